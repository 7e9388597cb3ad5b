"""Delivering messages: hold them for the send window, claim them, hand them to the channel
adapter, and record what happened. Safe to call any number of times for one delivery: only
the call that claims the row sends.

Two entry points share every step:

- ``deliver_batch`` takes the ids planning put in one queue message (``delivery_batch_size``
  of them): one query loads them, one statement claims them, one commit records a run of
  sends. This is the fast path for the thousands of messages of one announcement.
- ``deliver`` takes one id: retries, fallbacks and the recovery sweep use it, and
  ``deliver_batch`` hands it every delivery that needs Dramatiq's retry with backoff.

The steps live beside this module: ``messages`` loads and renders what is due,
``outcomes`` decides what a provider's answer means (pure), ``record`` writes it down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dispatcher.channels.base import BatchSending, ChannelError, ProviderReceipt, batch_sending
from dispatcher.delivery.context import BatchContext, announcement_facts
from dispatcher.delivery.messages import (
    DueDelivery,
    PreparedDelivery,
    load_due,
    prepare,
    student_names,
)
from dispatcher.delivery.outcomes import DeliveryOutcome, Outcome, cannot_send, decide_failure
from dispatcher.delivery.record import (
    MIN_STOP_WAIT_SECONDS,
    record_failure,
    sent_record,
    wait_for_channel,
)
from dispatcher.domain import Channel, DeliveryState
from dispatcher.planning.windows import hold_until
from dispatcher.queue.names import DELIVER_ACTOR, DELIVER_BATCH_ACTOR
from dispatcher.queue.work import QueuedWork, delivery_work
from dispatcher.retries import FIRST_RETRY_SECONDS
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import (
    SentRecord,
    as_utc,
    claim_deliveries,
    claim_delivery,
    hold_deliveries,
    move_delivery,
    record_sent,
)

log = logging.getLogger("dispatcher.deliver")

#: Sends recorded per commit in a batch: a worker killed mid-batch leaves at most this many
#: sent messages still marked ``sending`` (settled by the sweep).
RECORD_EVERY = 25


def deliver(
    runtime: Runtime,
    delivery_id: int,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> DeliveryOutcome:
    """Send one delivery if it is still due; record the outcome.

    - Outside the school's send window a non-urgent pending delivery is held until it opens.
    - Only the caller whose conditional claim succeeds calls the provider.
    - A permanent failure marks it failed and starts its follow-ups (next channel, or the
      next contact).
    - A transient failure puts it back to pending and returns ``RETRY`` (the actor raises so
      that Dramatiq retries with backoff), until ``dispatcher.retries.DELIVERY_ATTEMPTS``.
    """
    with runtime.sessions() as session:
        loaded = load_due(session, [delivery_id])
        if not loaded:
            return DeliveryOutcome(Outcome.SKIPPED)
        delivery = loaded[0]
        facts = announcement_facts(runtime, session, delivery.announcement_id)
        if facts is None:
            return DeliveryOutcome(Outcome.SKIPPED)
        moment = now()

        if delivery.state == DeliveryState.PENDING.value:
            opening = hold_until(facts.category, facts.school, moment)
            if opening is not None:
                if move_delivery(
                    session,
                    delivery_id,
                    DeliveryState.HELD,
                    now=moment,
                    detail="outside send window",
                    not_before=opening,
                ):
                    session.commit()
                    delay_ms = int((opening - moment).total_seconds() * 1000)
                    actor = DELIVER_ACTOR[facts.category.urgency]
                    enqueue([QueuedWork(actor, delivery_id, delay_ms)])
                    return DeliveryOutcome(Outcome.HELD)
                return DeliveryOutcome(Outcome.SKIPPED)

        if not claim_delivery(
            session, delivery_id, moment, DeliveryState(delivery.state), delivery.not_before
        ):
            session.rollback()
            return DeliveryOutcome(Outcome.SKIPPED)
        names = student_names(session, facts.school_id, [delivery.contact_id])
        session.commit()  # the claim; no connection is held while the provider is called
        ctx = BatchContext(runtime, session, facts, now, enqueue)
        prepared = prepare(runtime.templates, facts, delivery, names[delivery.contact_id])
        outcome, receipt = _send(ctx, prepared)
        if outcome.outcome is Outcome.WAITING:
            delay_ms = int((outcome.retry_after or MIN_STOP_WAIT_SECONDS) * 1000)
            enqueue([QueuedWork(DELIVER_ACTOR[facts.category.urgency], delivery_id, delay_ms)])
        if receipt is not None:
            record_sent(session, [sent_record(prepared, receipt, now())])
            session.commit()
            log.info(
                "delivery %s sent on %s via %s", delivery_id, delivery.channel, receipt.provider
            )
        return outcome


@dataclass
class BatchOutcome:
    """What ``deliver_batch`` did with each id of its message."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    #: Ids handed on to another queued message (held, or retried by the one-id actor):
    #: their in-flight markers belong to that message now.
    handed_on: set[int] = field(default_factory=set)


def deliver_batch(
    runtime: Runtime,
    delivery_ids: Sequence[int],
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> BatchOutcome:
    """Send every delivery of ``delivery_ids`` that is still due, as ``deliver`` would one by
    one: held outside the send window, claimed before sending (so no id is sent twice),
    failures recorded with their follow-ups. A delivery the provider asks to retry is handed
    to the one-id actor (Dramatiq's retries with backoff)."""
    result = BatchOutcome()
    with runtime.sessions() as session:
        loaded = load_due(session, delivery_ids)
        by_announcement: dict[int, list[DueDelivery]] = {}
        for delivery in loaded:
            by_announcement.setdefault(delivery.announcement_id, []).append(delivery)
        for delivery_id in delivery_ids:
            result.outcomes[delivery_id] = Outcome.SKIPPED
        for announcement_id, rows in by_announcement.items():
            facts = announcement_facts(runtime, session, announcement_id)
            if facts is not None:
                ctx = BatchContext(runtime, session, facts, now, enqueue)
                _deliver_announcement_rows(ctx, rows, result)
    return result


def _deliver_announcement_rows(
    ctx: BatchContext, rows: list[DueDelivery], result: BatchOutcome
) -> None:
    session, facts, settings = ctx.session, ctx.facts, ctx.runtime.settings
    moment = ctx.now()
    opening = hold_until(facts.category, facts.school, moment)
    pending = [d.id for d in rows if d.state == DeliveryState.PENDING.value]
    due_held = [
        d.id
        for d in rows
        if d.state == DeliveryState.HELD.value
        and d.not_before is not None
        and as_utc(d.not_before) <= moment
    ]
    if opening is not None and pending:
        held = hold_deliveries(session, pending, opening, moment)
        session.commit()
        if held:
            delay_ms = int((opening - moment).total_seconds() * 1000)
            channel_of = {d.id: d.channel for d in rows}
            ctx.enqueue(
                delivery_work(
                    DELIVER_BATCH_ACTOR[facts.category.urgency],
                    [(i, channel_of[i]) for i in held],
                    settings.delivery_batch_size,
                    settings.email_batch_size,
                    delay_ms,
                )
            )
            for delivery_id in held:
                result.outcomes[delivery_id] = Outcome.HELD
            result.handed_on.update(held)
        pending = []

    claimed = set(claim_deliveries(session, pending, due_held, moment))
    if not claimed:
        session.commit()
        return
    due = [d for d in rows if d.id in claimed]  # in id order, as loaded
    names = student_names(session, facts.school_id, sorted({d.contact_id for d in due}))
    # The claim is committed with the names read: no connection is held while the providers
    # are called (an adapter may need one of its own, e.g. the outbox).
    session.commit()
    templates = ctx.runtime.templates
    prepared = [prepare(templates, facts, d, names[d.contact_id]) for d in due]
    retry = _send_and_record(ctx, prepared, result)
    if retry:
        ctx.enqueue(retry)
        result.handed_on.update(work.object_id for work in retry)
    log.info(
        "announcement %s: batch of %d sent %d",
        facts.id,
        len(rows),
        sum(1 for o in result.outcomes.values() if o is Outcome.SENT),
    )


def _send_and_record(
    ctx: BatchContext, prepared: list[PreparedDelivery], result: BatchOutcome
) -> list[QueuedWork]:
    """Send claimed deliveries, texts and pushes first (in an urgent category they are the
    message, the emails its back-up), emails sharing requests where the adapter can; record
    the sends ``RECORD_EVERY`` per commit and each outcome in ``result``. Returns the retries
    to hand to the one-id actor."""
    session = ctx.session
    sent: list[SentRecord] = []
    retry: list[QueuedWork] = []
    actor = DELIVER_ACTOR[ctx.facts.category.urgency]

    def settle(
        item: PreparedDelivery, outcome: DeliveryOutcome, receipt: ProviderReceipt | None
    ) -> None:
        result.outcomes[item.delivery.id] = outcome.outcome
        if receipt is not None:
            sent.append(sent_record(item, receipt, ctx.now()))
            if len(sent) >= RECORD_EVERY:
                record_sent(session, sent)
                session.commit()
                sent.clear()
        elif outcome.outcome in (Outcome.RETRY, Outcome.WAITING):
            delay = outcome.retry_after or FIRST_RETRY_SECONDS
            retry.append(QueuedWork(actor, item.delivery.id, int(delay * 1000)))

    emails = [p for p in prepared if p.message is not None and p.message.channel is Channel.EMAIL]
    email_ids = {item.delivery.id for item in emails}
    for item in prepared:
        if item.delivery.id not in email_ids:
            settle(item, *_send(ctx, item))
    email_adapter = ctx.runtime.adapter_for(ctx.facts.school, Channel.EMAIL) if emails else None
    batcher = batch_sending(email_adapter)
    if len(emails) > 1 and email_adapter is not None and batcher is not None:
        ctx.channel_stop(email_adapter)
        shared = _send_shared(ctx, emails, batcher, email_adapter.name)
        for item in emails:
            settle(item, *shared[item.delivery.id])
    else:
        for item in emails:
            settle(item, *_send(ctx, item))
    if sent:
        record_sent(session, sent)
        session.commit()
    return retry


def _send(
    ctx: BatchContext, prepared: PreparedDelivery
) -> tuple[DeliveryOutcome, ProviderReceipt | None]:
    """Send one claimed delivery. Failures are recorded (and committed) here; a success is
    returned with its receipt for the caller to record. On a stopped channel nothing is
    sent: the delivery waits for the stop to end."""
    delivery = prepared.delivery
    if prepared.message is None:
        problem = prepared.problem or cannot_send("internal", "no message")
        return record_failure(ctx, delivery, problem, ""), None
    adapter = ctx.runtime.adapter_for(ctx.facts.school, prepared.message.channel)
    stop = ctx.channel_stop(adapter)
    if stop is not None:
        return wait_for_channel(ctx, delivery, stop), None
    try:
        receipt = adapter.send(prepared.message)
    except ChannelError as exc:
        decision = decide_failure(exc, Channel(delivery.channel))
        return record_failure(ctx, delivery, decision, adapter.name), None
    return DeliveryOutcome(Outcome.SENT), receipt


def _send_shared(
    ctx: BatchContext, prepared: list[PreparedDelivery], adapter: BatchSending, provider: str
) -> dict[int, tuple[DeliveryOutcome, ProviderReceipt | None]]:
    """Send the emails of a batch through an adapter that shares one request among
    identical messages (SendGrid personalizations); every delivery keeps its own result.
    On a stopped channel nothing is sent: the deliveries wait for the stop to end."""
    outcomes: dict[int, tuple[DeliveryOutcome, ProviderReceipt | None]] = {}
    stop = ctx.known_stops.get(provider)
    if stop is not None:
        for item in prepared:
            outcomes[item.delivery.id] = (wait_for_channel(ctx, item.delivery, stop), None)
        return outcomes
    results = adapter.send_batch([p.message for p in prepared if p.message is not None])
    for item in prepared:
        result = results[item.delivery.id]
        if isinstance(result, ProviderReceipt):
            outcomes[item.delivery.id] = (DeliveryOutcome(Outcome.SENT), result)
        else:
            decision = decide_failure(result, Channel(item.delivery.channel))
            outcomes[item.delivery.id] = (
                record_failure(ctx, item.delivery, decision, provider),
                None,
            )
    return outcomes
