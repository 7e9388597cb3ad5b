"""Exactly once, step by step, over a real Redis and SQLite and PostgreSQL: every receipt is
journaled before the worker moves on; a batch the database left mid-way gives the rest of its
claim back instead of sending it; the journal's replay records and releases; a dead worker's
claims are settled by the journal (only what was in flight may go twice, and is marked so);
a living worker's claims are never touched."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select, update

from dispatcher.channels.base import OutgoingMessage, ProviderReceipt
from dispatcher.channels.registry import ChannelRegistry
from dispatcher.delivery.deliver import deliver_batch
from dispatcher.delivery.outcomes import Outcome
from dispatcher.delivery.recovery import release_dead_workers, replay_journal
from dispatcher.domain import Channel
from dispatcher.queue.heartbeats import Heartbeats
from dispatcher.queue.journal import EntryKind, JournalEntry
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.engine import upgrade_database
from dispatcher.store.models import Delivery, DeliveryEvent
from emulator import ProviderEmulator
from emulator.failures import FailureRule
from tests.support.factories import create, delivery_ids, import_roster, many_families, plan
from tests.support.services import StoppablePostgres

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class CountingAdapter:
    """Accepts every message; ``on_send`` runs after the n-th send is accepted."""

    name = "counting"

    def __init__(self, on_send: dict[int, Any] | None = None) -> None:
        self.sent: list[int] = []
        self.on_send = on_send or {}

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        self.sent.append(message.delivery_id)
        hook = self.on_send.get(len(self.sent))
        if hook is not None:
            hook()
        return ProviderReceipt(self.name, f"msg-{message.delivery_id}")

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        return None


def _with(runtime: Runtime, adapter: CountingAdapter) -> Runtime:
    return dataclasses.replace(runtime, channels=ChannelRegistry(dict.fromkeys(Channel, adapter)))


def _planned(runtime: Runtime, families: int = 5) -> list[int]:
    import_roster(runtime, many_families(families))
    work = plan(runtime, create(runtime), NOW)
    return delivery_ids(work)


def _states(runtime: Runtime, ids: list[int]) -> dict[int, str]:
    with runtime.sessions() as session:
        return dict(
            session.execute(select(Delivery.id, Delivery.state).where(Delivery.id.in_(ids))).all()
        )


def test_a_batch_stops_sending_when_the_database_breaker_opens_and_gives_the_rest_back(
    runtime: Runtime, clean_redis: RedisBroker
) -> None:
    ids = _planned(runtime)[:6]
    adapter = CountingAdapter({2: runtime.database.trip})  # another thread lost the database
    queued: list[QueuedWork] = []
    result = deliver_batch(_with(runtime, adapter), ids, lambda: NOW, queued.extend)
    assert adapter.sent == ids[:2]  # nothing sent once the breaker opened
    assert [result.outcomes[i] for i in ids[:2]] == [Outcome.SENT, Outcome.SENT]
    assert result.handed_on == set(ids[2:])
    journal = runtime.journal.entries()
    assert {i: journal[i].kind for i in ids} == {
        **dict.fromkeys(ids[:2], EntryKind.SENT),
        **dict.fromkeys(ids[2:], EntryKind.UNSENT),
    }
    assert set(_states(runtime, ids).values()) == {"sending"}  # the journal holds the truth

    assert runtime.database.check()  # the database answers: the breaker closes
    replay = replay_journal(runtime, queued.extend, NOW)
    assert (replay.recorded, replay.released, replay.possibly_twice) == (2, 4, 0)
    states = _states(runtime, ids)
    assert [states[i] for i in ids] == ["sent", "sent"] + ["pending"] * 4
    assert runtime.journal.entries() == {}
    requeued = [i for work in queued for i in work.object_ids]
    assert sorted(requeued) == sorted(ids[2:])
    assert all(work.actor_name.endswith("_batch") for work in queued)
    with runtime.sessions() as session:
        recorded = session.execute(
            select(Delivery.provider_message_id, Delivery.provider_requests).where(
                Delivery.id == ids[0]
            )
        ).one()
    assert tuple(recorded) == (f"msg-{ids[0]}", 1)


def test_another_workers_journal_entries_are_left_to_it(
    runtime: Runtime, clean_redis: RedisBroker
) -> None:
    ids = _planned(runtime)[:2]
    runtime.journal.write([JournalEntry(ids[0], EntryKind.UNSENT, "another", "tok", NOW)])
    assert not replay_journal(runtime, lambda work: None, NOW)
    assert set(runtime.journal.entries()) == {ids[0]}


def _judge(runtime: Runtime, broker: RedisBroker, *living: str) -> Runtime:
    """``runtime`` with heartbeats of a 0.3 s timeout, beaten for long enough to judge
    (and the ``living`` workers beating too)."""
    heartbeats = Heartbeats(lambda: broker.client, 0.3)
    end = time.monotonic() + 0.45
    while time.monotonic() < end:
        heartbeats.beat(runtime.worker_id)
        for worker in living:
            heartbeats.beat(worker)
        time.sleep(0.05)
    return dataclasses.replace(runtime, heartbeats=heartbeats)


def _claim_as(runtime: Runtime, worker: str, token: str, ids: list[int]) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(state="sending", claimed_by=worker, claim_token=token, claimed_at=NOW)
        )
        session.commit()


def test_a_dead_workers_claims_are_settled_by_the_journal_and_a_living_ones_kept(
    runtime: Runtime, clean_redis: RedisBroker
) -> None:
    ids = _planned(runtime)
    receipt, in_flight, never_started, living = ids[0], ids[1], ids[2], ids[3]
    _claim_as(runtime, "dead-worker", "claim-1", [receipt, in_flight, never_started])
    _claim_as(runtime, "living-worker", "claim-2", [living])
    runtime.journal.write(
        [
            JournalEntry(receipt, EntryKind.SENT, "dead-worker", "claim-1", NOW, "twilio", "SM1"),
            JournalEntry(in_flight, EntryKind.SENDING, "dead-worker", "claim-1", NOW),
            JournalEntry(living, EntryKind.SENDING, "living-worker", "claim-2", NOW),
        ]
    )
    judge = _judge(runtime, clean_redis, "living-worker")
    queued: list[QueuedWork] = []
    report = release_dead_workers(judge, queued.extend, NOW)
    assert (report.dead_workers, report.recorded, report.released, report.possibly_twice) == (
        1,
        1,
        2,
        1,
    )
    states = _states(runtime, [receipt, in_flight, never_started, living])
    assert states == {
        receipt: "sent",
        in_flight: "pending",
        never_started: "pending",
        living: "sending",  # its worker beats: never released
    }
    with runtime.sessions() as session:
        flags = dict(
            session.execute(
                select(Delivery.id, Delivery.possible_duplicate).where(
                    Delivery.id.in_([in_flight, never_started])
                )
            ).all()
        )
        codes = set(
            session.scalars(
                select(DeliveryEvent.code).where(DeliveryEvent.delivery_id == in_flight)
            )
        )
    assert flags == {in_flight: True, never_started: False}
    assert "worker_dead_in_flight" in codes
    assert sorted(i for work in queued for i in work.object_ids) == [in_flight, never_started]
    assert set(runtime.journal.entries()) == {living}  # only the living worker's entry stays


def test_a_dead_workers_entry_of_an_earlier_claim_is_not_its_receipt(
    runtime: Runtime, clean_redis: RedisBroker
) -> None:
    ids = _planned(runtime)[:1]
    _claim_as(runtime, "dead-worker", "second-claim", ids)
    runtime.journal.write(
        [JournalEntry(ids[0], EntryKind.SENT, "dead-worker", "first-claim", NOW, "twilio", "X")]
    )
    release_dead_workers(_judge(runtime, clean_redis), lambda work: None, NOW)
    assert _states(runtime, ids) == {ids[0]: "pending"}


@pytest.fixture
def private_postgres_runtime(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Runtime, StoppablePostgres]]:
    """A runtime on a PostgreSQL server of the test's own, which it may stop and start."""
    from dispatcher.runtime import current_runtime, dispose_runtimes

    server = StoppablePostgres()
    server.start()
    url = f"{server.url}/postgres"
    upgrade_database(url)
    monkeypatch.setenv("DATABASE_URL", url)
    env["DATABASE_URL"] = url
    try:
        yield current_runtime(), server
    finally:
        dispose_runtimes()
        server.remove()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_receipts_of_sends_made_while_postgres_stopped_are_replayed_when_it_returns(
    private_postgres_runtime: tuple[Runtime, StoppablePostgres], clean_redis: RedisBroker
) -> None:
    runtime, server = private_postgres_runtime
    ids = _planned(runtime)[:5]
    adapter = CountingAdapter({3: server.stop})  # the database dies during the third send
    deliver_batch(_with(runtime, adapter), ids, lambda: NOW, lambda work: None)
    assert adapter.sent == ids  # each request in hand went; none was forgotten:
    assert {e.kind for e in runtime.journal.entries().values()} == {EntryKind.SENT}
    assert set(runtime.journal.entries()) == set(ids)
    assert runtime.database.is_open

    server.start()
    assert runtime.database.wait_until_closed(timeout=30)
    replay = replay_journal(runtime, lambda work: None, NOW)
    assert replay.recorded == 5
    assert set(_states(runtime, ids).values()) == {"sent"}
    assert runtime.journal.entries() == {}


def _callbacks_configured(monkeypatch: pytest.MonkeyPatch, emulator: ProviderEmulator) -> None:
    """Twilio calls back (its StatusCallback URL carries the delivery id) and SendGrid's
    Event Webhook is set up (its verification key is known)."""
    monkeypatch.setenv("DISPATCHER_PUBLIC_BASE_URL", "https://school.invalid")
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", emulator.sendgrid_webhook_public_key)


def _flags(runtime: Runtime, ids: set[int]) -> dict[int, tuple[str, bool, int]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(
                Delivery.id, Delivery.state, Delivery.possible_duplicate, Delivery.provider_requests
            ).where(Delivery.id.in_(sorted(ids)))
        ).all()
    return {r.id: (r.state, r.possible_duplicate, r.provider_requests) for r in rows}


def _send_all(runtime: Runtime, work: list[QueuedWork]) -> list[QueuedWork]:
    queued: list[QueuedWork] = []
    for message in work:
        deliver_batch(runtime, message.object_ids, lambda: NOW, queued.extend)
    return queued


@pytest.mark.parametrize(("provider", "word"), [("twilio", "sent"), ("sendgrid", "processed")])
def test_a_send_whose_answer_was_lost_waits_for_the_providers_callback_and_goes_once(
    emulator: ProviderEmulator,
    clean_redis: RedisBroker,
    provider: str,
    word: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatcher.channels.reports import ProviderStatus
    from dispatcher.runtime import current_runtime, dispose_runtimes
    from dispatcher.tracking.statuses import apply_status

    _callbacks_configured(monkeypatch, emulator)
    runtime = current_runtime()
    try:
        import_roster(runtime, many_families(3))
        work = plan(runtime, create(runtime), NOW)
        # The provider takes the first request it is sent, but its answer never comes back.
        emulator.add_failure(FailureRule(provider=provider, drop_answer=True, count=1))
        _send_all(runtime, work)
        counted = Counter(int(i) for i in emulator.accepted_delivery_ids(provider))
        assert set(counted.values()) == {1}  # not tried again on the spot
        waiting = {
            e.delivery_id
            for e in runtime.journal.entries().values()
            if e.kind is EntryKind.UNCONFIRMED
        }
        assert waiting and waiting <= set(counted)
        assert {v[0] for v in _flags(runtime, waiting).values()} == {"sending"}

        # Half a minute on, nothing from the provider yet: it keeps waiting.
        later = NOW.replace(second=30)
        assert not replay_journal(runtime, lambda w: None, later).released
        assert set(_flags(runtime, waiting)) == waiting
        # The provider's status callback says it took them: sent, once, no doubt.
        with runtime.sessions() as session:
            for delivery_id in waiting:
                status = ProviderStatus(provider, word, delivery_id, f"msg-{delivery_id}")
                apply_status(session, status, later, runtime)
            session.commit()
        requeued: list[QueuedWork] = []
        assert not replay_journal(runtime, requeued.extend, NOW.replace(minute=5)).released
        assert requeued == []
        assert set(_flags(runtime, waiting).values()) == {("sent", False, 1)}
        assert runtime.journal.entries() == {}
        assert set(Counter(emulator.accepted_delivery_ids(provider)).values()) == {1}
        assert announcement_report_for(runtime)["possibly_sent_twice"] == 0
    finally:
        dispose_runtimes()


def test_a_lost_answer_no_callback_settles_is_sent_again_after_the_wait_and_flagged(
    emulator: ProviderEmulator, clean_redis: RedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher.runtime import current_runtime, dispose_runtimes

    _callbacks_configured(monkeypatch, emulator)
    runtime = current_runtime()
    try:
        import_roster(runtime, many_families(3))
        work = plan(runtime, create(runtime), NOW)
        emulator.add_failure(FailureRule(provider="twilio", drop_answer=True, count=1))
        _send_all(runtime, work)
        (waiting,) = [
            e.delivery_id
            for e in runtime.journal.entries().values()
            if e.kind is EntryKind.UNCONFIRMED
        ]
        wait = runtime.settings.unconfirmed_wait_seconds
        requeued: list[QueuedWork] = []
        after_wait = NOW + timedelta(seconds=wait)
        replay = replay_journal(runtime, requeued.extend, after_wait)
        assert (replay.released, replay.possibly_twice) == (1, 1)
        assert [list(w.object_ids) for w in requeued] == [[waiting]]
        _send_all(runtime, requeued)
        assert Counter(int(i) for i in emulator.accepted_delivery_ids("twilio"))[waiting] == 2
        assert _flags(runtime, {waiting})[waiting] == ("sent", True, 2)
        report = announcement_report_for(runtime)
        assert report["possibly_sent_twice"] == 1
        assert [d["delivery_id"] for d in report["possible_duplicates"]] == [waiting]
    finally:
        dispose_runtimes()


@pytest.mark.parametrize("provider", ["sendgrid", "fcm"])
def test_a_lost_answer_with_no_callback_to_wait_for_is_tried_again_and_flagged(
    emulator: ProviderEmulator,
    clean_redis: RedisBroker,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatcher.runtime import current_runtime, dispose_runtimes

    # SendGrid's Event Webhook is not set up here, and FCM never calls back.
    monkeypatch.delenv("SENDGRID_WEBHOOK_PUBLIC_KEY", raising=False)
    runtime = current_runtime()
    try:
        families = many_families(3)
        if provider == "fcm":  # families only the app reaches
            families = [
                {**f, "mobile": "", "email": "", "push_token": f"tok-{n}"}
                for n, f in enumerate(families)
            ]
        import_roster(runtime, families)
        work = plan(runtime, create(runtime), NOW)
        emulator.add_failure(FailureRule(provider=provider, drop_answer=True, count=1))
        _send_all(runtime, work)
        counted = Counter(emulator.accepted_delivery_ids(provider))
        twice = {int(i) for i, n in counted.items() if n > 1}
        assert twice  # tried again at once: no provider has an idempotency key
        assert set(_flags(runtime, twice).values()) == {("sent", True, 2)}  # ... and said so
        assert announcement_report_for(runtime)["possibly_sent_twice"] == len(twice)
        if provider == "fcm":  # both pushes carry one collapse key: the phone shows one
            tags: dict[str, set[str]] = {}
            for record in emulator.messages("fcm"):
                body = record.json if isinstance(record.json, dict) else {}
                sent = body["message"]
                tags.setdefault(sent["data"]["delivery_id"], set()).add(
                    sent["android"]["notification"]["tag"]
                )
            assert {i: tags[str(i)] for i in twice} == {i: {f"delivery-{i}"} for i in twice}
    finally:
        dispose_runtimes()


def announcement_report_for(runtime: Runtime) -> dict[str, Any]:
    from dispatcher.reporting.reports import announcement_report

    with runtime.sessions() as session:
        return announcement_report(session, 1)
