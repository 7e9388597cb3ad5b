"""Delivering through a real Redis broker and Dramatiq workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest
import time_machine
from sqlalchemy import func, select

from dispatcher.channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentFailure,
    ProviderReceipt,
    TransientFailure,
    UnsubscribedFailure,
)
from dispatcher.channels.registry import ChannelRegistry
from dispatcher.channels.reports import ProviderStatus
from dispatcher.config.schools import ProviderNames
from dispatcher.delivery.deliver import deliver, deliver_batch
from dispatcher.delivery.outcomes import Outcome
from dispatcher.domain import Channel
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.names import DELIVERY_QUEUES, PLAN_QUEUE
from dispatcher.queue.work import QueuedWork
from dispatcher.reporting.reports import announcement_report
from dispatcher.retries import DELIVERY_ATTEMPTS
from dispatcher.store.models import Delivery, DeliveryEvent, OutboxMessage
from dispatcher.tracking.statuses import apply_statuses
from dispatcher.worker.run import start_workers
from tests.support.factories import create, delivery_ids, import_roster, many_families, plan, row
from tests.support.tracking import events
from tests.support.waiting import wait_until

TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def worker(clean_redis: Any) -> Iterator[Any]:
    """Start the worker lanes in this process, as `dispatcher worker` does; stopped after."""
    started: list[dramatiq.Worker] = []

    def start(threads: int = 4) -> list[dramatiq.Worker]:
        workers = start_workers(clean_redis, threads)
        started.extend(workers)
        return workers

    yield start
    for w in started:
        w.stop()


def count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_every_queue_has_a_worker(broker: Any) -> None:
    declared = broker.get_declared_queues()
    assert {PLAN_QUEUE, *DELIVERY_QUEUES.values()} <= declared
    actors = broker.get_declared_actors()
    assert actors
    for name in actors:
        assert broker.get_actor(name).queue_name in declared


def test_a_delivery_message_delivered_twice_sends_once(
    runtime: Any, clean_redis: Any, worker: Any
) -> None:
    import_roster(runtime, many_families(20))
    announcement_id = create(runtime)
    work = plan(runtime, announcement_id)
    ids = delivery_ids(work)
    enqueue(clean_redis, work)
    enqueue(clean_redis, work)  # every batch message twice
    enqueue(clean_redis, [QueuedWork("deliver_urgent", i) for i in ids])  # and one by one
    worker()
    wait_until(
        lambda: count(runtime, Delivery, Delivery.state == "sent") == len(ids),
        30,
        what=f"all {len(ids)} deliveries sent",
        explain=lambda: f"{count(runtime, Delivery, Delivery.state == 'sent')} sent",
    )
    for queue in DELIVERY_QUEUES.values():
        clean_redis.join(queue, timeout=30_000)
    assert count(runtime, OutboxMessage) == len(ids) == 40
    assert count(runtime, DeliveryEvent, DeliveryEvent.to_state == "sending") == len(ids)


def test_urgent_work_overtakes_bulk_work_already_queued(
    runtime: Any, clean_redis: Any, worker: Any
) -> None:
    import_roster(runtime, many_families(300))
    with time_machine.travel(TUESDAY_10AM, tick=True):
        newsletter = create(
            runtime,
            category="newsletter",
            variables={"title": "News", "url": "https://x.example/n"},
        )
        bulk_work = plan(runtime, newsletter, now=TUESDAY_10AM)
        bulk = delivery_ids(bulk_work)
        closure = create(runtime, audience=[f"student:S{i}" for i in range(10)])
        urgent_work = plan(runtime, closure, now=TUESDAY_10AM)
        urgent = delivery_ids(urgent_work)
        enqueue(clean_redis, bulk_work)  # 300 newsletters wait in the queue first
        enqueue(clean_redis, urgent_work)
        worker(threads=1)
        wait_until(
            lambda: (
                count(
                    runtime, Delivery, Delivery.announcement_id == closure, Delivery.state == "sent"
                )
                == len(urgent)
            ),
            60,
            what="the closure's texts and emails sent",
        )
        bulk_sent_meanwhile = count(
            runtime, Delivery, Delivery.announcement_id == newsletter, Delivery.state == "sent"
        )
        wait_until(
            lambda: count(runtime, Delivery, Delivery.state == "sent") == len(bulk) + len(urgent),
            120,
            what="the newsletters sent too",
            explain=lambda: f"{count(runtime, Delivery, Delivery.state == 'sent')} sent",
        )
    # the closure did not wait for the newsletter queue to drain
    assert len(urgent) == 20
    assert bulk_sent_meanwhile < len(bulk) / 2, bulk_sent_meanwhile


def test_held_newsletter_goes_when_the_window_opens(runtime: Any) -> None:
    import_roster(runtime, [row()])
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    announcement_id = create(
        runtime, category="newsletter", variables={"title": "News", "url": "https://x.example/n"}
    )
    # planned on Friday afternoon, delivered by a worker on Saturday night
    work = plan(runtime, announcement_id, now=datetime(2026, 11, 27, 14, 0, tzinfo=UTC))
    delivery_id = work[0].object_id
    requeued: list[QueuedWork] = []
    result = deliver(runtime, delivery_id, lambda: saturday_night, requeued.extend)
    assert result.outcome is Outcome.HELD
    monday_8am = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert requeued[0].delay_ms == int((monday_8am - saturday_night).total_seconds() * 1000)
    # the delayed message arrives early (clock skew): still held, nothing sent
    early = deliver(
        runtime, delivery_id, lambda: monday_8am.replace(minute=0, hour=7), requeued.extend
    )
    assert early.outcome is Outcome.SKIPPED
    assert (
        deliver(runtime, delivery_id, lambda: monday_8am, requeued.extend).outcome is Outcome.SENT
    )
    assert count(runtime, OutboxMessage) == 1


class ScriptedAdapter:
    """A channel adapter that fails as told, then records like the outbox."""

    name = "scripted"

    def __init__(self, failures: dict[Channel, list[Exception]]) -> None:
        self.failures = failures
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        pending = self.failures.get(message.channel, [])
        if pending:
            raise pending.pop(0)
        self.sent.append(message)
        return ProviderReceipt(self.name, f"scripted-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        return None


def _with_adapter(runtime: Any, adapter: ScriptedAdapter) -> Any:
    return dataclasses.replace(
        runtime, channels=ChannelRegistry({channel: adapter for channel in Channel})
    )


def test_permanent_sms_failure_falls_back_to_email_once(runtime: Any) -> None:
    import_roster(runtime, [row(email="")])  # no email back-up: the fallback is the only email
    import_roster(
        runtime,
        [row(contact_id="C2", mobile="07700 900002", email="b@example.com", push_token="tok-123")],
    )
    adapter = ScriptedAdapter({Channel.SMS: [PermanentFailure("21614", "not a mobile")] * 2})
    scripted = _with_adapter(runtime, adapter)
    announcement_id = create(
        runtime,
        category="payment_request",
        variables={
            "item": "Year 6 residential",
            "amount": "£45.00",
            "due_date": "1 December",
            "payment_link": "https://pay.example/x",
        },
    )
    work = plan(scripted, announcement_id, now=TUESDAY_10AM)
    assert delivery_ids(work)
    follow_ups: list[QueuedWork] = []
    for delivery_id in delivery_ids(work):
        assert (
            deliver(scripted, delivery_id, lambda: TUESDAY_10AM, follow_ups.extend).outcome
            is Outcome.FAILED
        )
    # C1 has nothing left; C2 falls back to the app, then email
    assert len(follow_ups) == 1
    again: list[QueuedWork] = []
    for delivery_id in delivery_ids(work):  # redelivery of the failed starts nothing new
        assert (
            deliver(scripted, delivery_id, lambda: TUESDAY_10AM, again.extend).outcome
            is Outcome.SKIPPED
        )
    assert again == []
    assert (
        deliver(scripted, follow_ups[0].object_id, lambda: TUESDAY_10AM, again.extend).outcome
        is Outcome.SENT
    )
    assert [m.channel for m in adapter.sent] == [Channel.PUSH]
    with runtime.sessions() as session:
        failed = session.scalars(select(Delivery).where(Delivery.state == "failed")).all()
        assert {d.error_code for d in failed} == {"21614"}
        fallback = session.get(Delivery, follow_ups[0].object_id)
        assert fallback.kind == "fallback" and fallback.fallback_of in {d.id for d in failed}
        report = announcement_report(session, announcement_id)
    # C1's only channel failed: the office is told to phone, with the provider's code
    assert [(p["contact_id"], p["phone"]) for p in report["not_reached"]] == [
        ("C1", "+447700900001")
    ]
    assert "21614" in report["not_reached"][0]["reason"]


def test_transient_failures_retry_then_give_up(runtime: Any) -> None:
    import_roster(runtime, [row(email="")])
    adapter = ScriptedAdapter(
        {Channel.SMS: [TransientFailure("20429", "slow down", 1.0)] * (DELIVERY_ATTEMPTS + 1)}
    )
    scripted = _with_adapter(runtime, adapter)
    announcement_id = create(runtime)
    (item,) = plan(scripted, announcement_id)
    outcomes = [
        deliver(scripted, item.object_id, lambda: TUESDAY_10AM, lambda _: None).outcome
        for _ in range(DELIVERY_ATTEMPTS)
    ]
    assert outcomes == [Outcome.RETRY] * (DELIVERY_ATTEMPTS - 1) + [Outcome.FAILED]
    with runtime.sessions() as session:
        delivery = session.get(Delivery, item.object_id)
        assert (delivery.state, delivery.attempts) == ("failed", DELIVERY_ATTEMPTS)


def test_a_school_in_outbox_mode_never_reaches_a_provider(runtime: Any) -> None:
    import_roster(runtime, [row()])
    adapter = ScriptedAdapter({})
    demo = runtime.configuration.school("demo").model_copy(
        update={"providers": ProviderNames.outbox_only()}
    )
    configuration = runtime.configuration.model_copy(
        update={"schools": {**runtime.configuration.schools, "demo": demo}}
    )
    trial = dataclasses.replace(_with_adapter(runtime, adapter), configuration=configuration)
    ids = delivery_ids(plan(trial, create(trial)))
    assert len(ids) == 2
    for delivery_id in ids:
        assert deliver(trial, delivery_id, lambda: TUESDAY_10AM, lambda _: None).outcome is (
            Outcome.SENT
        )
    assert adapter.sent == []
    assert count(runtime, OutboxMessage) == len(ids) == 2


def test_a_batch_holds_outside_the_window_then_sends_when_it_opens(runtime: Any) -> None:
    import_roster(runtime, many_families(3))
    newsletter = create(
        runtime, category="newsletter", variables={"title": "News", "url": "https://x.example/n"}
    )
    work = plan(runtime, newsletter, now=datetime(2026, 11, 27, 14, 0, tzinfo=UTC))
    ids = delivery_ids(work)
    assert len(work) == 1 and work[0].actor_name == "deliver_bulk_batch"
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    requeued: list[QueuedWork] = []
    held = deliver_batch(runtime, ids, lambda: saturday_night, requeued.extend)
    assert set(held.outcomes.values()) == {Outcome.HELD} and held.handed_on == set(ids)
    monday_8am = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert [(q.actor_name, q.object_ids) for q in requeued] == [("deliver_bulk_batch", tuple(ids))]
    assert requeued[0].delay_ms == int((monday_8am - saturday_night).total_seconds() * 1000)
    early = deliver_batch(runtime, ids, lambda: monday_8am.replace(hour=7), lambda _: None)
    assert set(early.outcomes.values()) == {Outcome.SKIPPED}
    assert count(runtime, OutboxMessage) == 0
    sent = deliver_batch(runtime, ids, lambda: monday_8am, lambda _: None)
    assert set(sent.outcomes.values()) == {Outcome.SENT} and sent.handed_on == set()
    again = deliver_batch(runtime, ids, lambda: monday_8am, lambda _: None)
    assert set(again.outcomes.values()) == {Outcome.SKIPPED}
    assert count(runtime, OutboxMessage) == 3


def test_a_batch_hands_retries_to_the_one_id_actor_and_falls_back_on_refusals(
    runtime: Any,
) -> None:
    import_roster(runtime, many_families(3))
    adapter = ScriptedAdapter(
        {
            Channel.SMS: [
                TransientFailure("20429", "slow down", 7.0),
                PermanentFailure("21211", "invalid number"),
            ]
        }
    )
    scripted = _with_adapter(runtime, adapter)
    announcement_id = create(runtime)
    ids = delivery_ids(plan(scripted, announcement_id, now=TUESDAY_10AM))
    queued: list[QueuedWork] = []
    result = deliver_batch(scripted, ids, lambda: TUESDAY_10AM, queued.extend)
    outcomes = list(result.outcomes.values())
    assert outcomes.count(Outcome.RETRY) == 1 and outcomes.count(Outcome.FAILED) == 1
    assert outcomes.count(Outcome.SENT) == len(ids) - 2
    (retry,) = [q for q in queued if q.delay_ms]
    assert (retry.actor_name, retry.delay_ms) == ("deliver_urgent", 7000)
    assert result.handed_on == {retry.object_id}
    with runtime.sessions() as session:
        states = {i: s for i, s in session.execute(select(Delivery.id, Delivery.state))}
        assert states[retry.object_id] == "pending"
        assert sorted(states.values()).count("sent") == len(ids) - 2
    # the refused SMS's contact already has its email back-up: no second email is created
    assert [q for q in queued if not q.delay_ms] == []
    assert len(adapter.sent) == len(ids) - 2


def test_a_text_refused_as_unsubscribed_records_the_opt_out(runtime: Any) -> None:
    from dispatcher.store.models import SmsOptOut

    import_roster(runtime, [row(mobile="07700 900123")])
    adapter = ScriptedAdapter({Channel.SMS: [UnsubscribedFailure("21610", "unsubscribed")]})
    scripted = _with_adapter(runtime, adapter)
    ids = delivery_ids(plan(scripted, create(runtime), now=TUESDAY_10AM))
    outcomes = deliver_batch(scripted, ids, lambda: TUESDAY_10AM, lambda _: None).outcomes
    assert sorted(outcomes.values()) == sorted([Outcome.FAILED, Outcome.SENT])
    with runtime.sessions() as session:
        assert [o.phone_e164 for o in session.scalars(select(SmsOptOut))] == ["+447700900123"]


class CallbackFirstAdapter:
    """Accepts every message and, before returning, reports it as a provider's status
    callback racing ahead of the worker would: Twilio "sent", SendGrid "delivered"."""

    name = "fast"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        provider, status = ("twilio", "sent")
        if message.channel is Channel.EMAIL:
            provider, status = ("sendgrid", "delivered")
        apply_statuses(
            self.runtime,
            [ProviderStatus(provider, status, message.delivery_id)],
            TUESDAY_10AM,
            lambda _: None,
        )
        return ProviderReceipt(provider, f"{provider}-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        return None


def test_a_callback_ahead_of_the_worker_leaves_one_history_and_the_providers_id(
    runtime: Any,
) -> None:
    import_roster(runtime, many_families(3))
    ids = delivery_ids(plan(runtime, create(runtime)))
    fast = dataclasses.replace(
        runtime, channels=ChannelRegistry(dict.fromkeys(Channel, CallbackFirstAdapter(runtime)))
    )
    result = deliver_batch(fast, ids, lambda: TUESDAY_10AM, lambda _: None)
    assert set(result.outcomes.values()) == {Outcome.SENT}
    with runtime.sessions() as session:
        deliveries = {
            d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))
        }
    assert {d.channel: d.state for d in deliveries.values()} == {
        "sms": "sent",  # the callback's word stands: the worker does not move it back
        "email": "delivered",
    }
    for delivery_id, delivery in deliveries.items():
        assert delivery.provider_message_id == f"{delivery.provider}-{delivery_id}"
        history = [(before, after) for before, after, _ in events(runtime, delivery_id)]
        assert history.count(("pending", "sending")) == 1
        assert sum(1 for _, to in history if to == "sent") <= 1, history


class OrderKeepingAdapter:
    """Accepts everything and remembers the order messages were handed to it."""

    name = "ordered"

    def __init__(self) -> None:
        self.channels: list[Channel] = []

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        self.channels.append(message.channel)
        return ProviderReceipt(self.name, f"ordered-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        return None


class OrderKeepingBatchAdapter(OrderKeepingAdapter):
    """The same, able to send many emails at once as SendGrid's adapter does."""

    def send_batch(
        self, messages: Sequence[OutgoingMessage]
    ) -> dict[int, ProviderReceipt | ChannelError]:
        return {m.delivery_id: self.send(m) for m in messages}


@pytest.mark.parametrize("adapter_class", [OrderKeepingAdapter, OrderKeepingBatchAdapter])
def test_in_an_emergency_the_texts_of_a_batch_go_before_its_email_back_ups(
    runtime: Any, adapter_class: type[OrderKeepingAdapter]
) -> None:
    import_roster(runtime, many_families(4))
    ids = delivery_ids(plan(runtime, create(runtime)))  # an emergency closure: SMS + email
    adapter = adapter_class()
    ordered = dataclasses.replace(
        runtime, channels=ChannelRegistry(dict.fromkeys(Channel, adapter))
    )
    deliver_batch(ordered, ids, lambda: TUESDAY_10AM, lambda _: None)
    assert adapter.channels == [Channel.SMS] * 4 + [Channel.EMAIL] * 4


def test_a_text_that_greets_by_name_is_rendered_for_each_family(
    runtime: Any, tmp_path: Any
) -> None:
    import shutil

    from dispatcher.rendering.templates import TemplateLibrary

    templates = shutil.copytree(runtime.settings.templates_dir, tmp_path / "templates")
    sms = templates / "emergency_closure" / "en" / "sms.txt.j2"
    sms.write_text("Dear {{ contact.first_name }}: " + sms.read_text(encoding="utf-8"))
    families = [
        row(student_id=f"S{i}", contact_id=f"C{i}", contact_first_name=name,
            mobile=f"07700 90000{i}", email="")
        for i, name in enumerate(["Anne", "Bea", "Cal"])
    ]  # fmt: skip
    import_roster(runtime, families)
    texts: dict[str, list[str]] = {}
    for library in (runtime.templates, TemplateLibrary(templates)):
        adapter = ScriptedAdapter({})
        scripted = dataclasses.replace(
            runtime,
            templates=library,
            channels=ChannelRegistry(dict.fromkeys(Channel, adapter)),
        )
        ids = delivery_ids(plan(runtime, create(runtime)))
        deliver_batch(scripted, ids, lambda: TUESDAY_10AM, lambda _: None)
        texts[str(library is runtime.templates)] = [m.rendered.body for m in adapter.sent]
    shipped, greeting = texts["True"], texts["False"]
    assert len(shipped) == len(greeting) == 3
    assert len(set(shipped)) == 1  # the shipped text names no one: the same for all
    assert [t.split(":")[0] for t in greeting] == ["Dear Anne", "Dear Bea", "Dear Cal"]


def test_a_batch_holds_no_connection_while_the_outbox_records_its_messages(
    runtime: Any, tmp_path: Any
) -> None:
    """A worker thread and the outbox it writes to never need two connections at once:
    with one connection in the pool, a whole batch still goes (it used to wait for the
    pool's timeout on every message, threads blocking each other)."""
    from sqlalchemy import create_engine

    from dispatcher.channels.outbox import OutboxAdapter
    from dispatcher.store.engine import make_session_factory

    import_roster(runtime, many_families(3))
    ids = delivery_ids(plan(runtime, create(runtime)))
    one = create_engine(
        runtime.engine.url, pool_size=1, max_overflow=0, pool_timeout=3
    )  # the same database, one connection at most
    try:
        sessions = make_session_factory(one)
        outbox = OutboxAdapter(sessions, tmp_path / "outbox")
        tight = dataclasses.replace(
            runtime,
            engine=one,
            sessions=sessions,
            outbox=outbox,
            channels=ChannelRegistry(dict.fromkeys(Channel, outbox)),
        )
        result = deliver_batch(tight, ids, lambda: TUESDAY_10AM, lambda _: None)
        assert list(result.outcomes.values()) == [Outcome.SENT] * len(ids) == [Outcome.SENT] * 6
        assert deliver(tight, ids[0], lambda: TUESDAY_10AM, lambda _: None).outcome is (
            Outcome.SKIPPED
        )
        again = delivery_ids(plan(runtime, create(runtime)))
        assert deliver(tight, again[0], lambda: TUESDAY_10AM, lambda _: None).outcome is (
            Outcome.SENT
        )
    finally:
        one.dispose()
    assert count(runtime, OutboxMessage) == 7


def test_each_family_gets_the_wording_and_print_size_it_needs(runtime: Any) -> None:
    families = [
        row(student_id="S1", contact_id="C1", contact_first_name="Anne", needs=""),
        row(student_id="S2", contact_id="C2", contact_first_name="Bea", needs="easy_read",
            mobile="07700 900002", email="bea@example.com"),
        row(student_id="S3", contact_id="C3", contact_first_name="Cal", needs="large_print",
            mobile="07700 900003", email="cal@example.com"),
    ]  # fmt: skip
    import_roster(runtime, families)
    adapter = ScriptedAdapter({})
    ids = delivery_ids(plan(runtime, create(runtime)))
    deliver_batch(_with_adapter(runtime, adapter), ids, lambda: TUESDAY_10AM, lambda _: None)

    emails = {m.to: m.rendered for m in adapter.sent if m.channel is Channel.EMAIL}
    texts = {m.to: m.rendered.body for m in adapter.sent if m.channel is Channel.SMS}
    standard, easy, large = (emails[a] for a in ("anne@example.com", "bea@example.com",
                                                 "cal@example.com"))  # fmt: skip
    assert standard.body.startswith("Dear Anne,")
    assert easy.body.startswith("Hello Bea,")
    assert "The school is closed on Tuesday 24 November.\n\nThis is because of heavy snow." in (
        easy.body
    )
    assert "font-size:19px" in (easy.html or "")
    assert large.body.startswith("Dear Cal,") and "font-size:24px" in (large.html or "")
    # Texts are short and plain already: every family gets the same one.
    assert len(texts) == 3 and len(set(texts.values())) == 1
