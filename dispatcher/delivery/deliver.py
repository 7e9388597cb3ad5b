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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dispatcher.channels.base import (
    BatchSending,
    ChannelError,
    ProviderReceipt,
    batch_sending,
    confirms_by_callback,
)
from dispatcher.channels.retry import ambiguous_requests, confirming_lost_answers, lost_answer
from dispatcher.delivery.context import BatchContext, announcement_facts
from dispatcher.delivery.journaling import ClaimLog
from dispatcher.delivery.messages import (
    DueDelivery,
    PreparedDelivery,
    load_due,
    prepare,
    student_names,
)
from dispatcher.delivery.outcomes import DeliveryOutcome, Outcome, cannot_send, decide_failure
from dispatcher.delivery.record import record_failure, wait_for_channel
from dispatcher.domain import Channel, DeliveryState
from dispatcher.planning.windows import hold_until
from dispatcher.queue.names import DELIVER_ACTOR, DELIVER_BATCH_ACTOR
from dispatcher.queue.work import QueuedWork, delivery_work
from dispatcher.retries import FIRST_RETRY_SECONDS
from dispatcher.runtime import Runtime
from dispatcher.store.announcements import finish_sending
from dispatcher.store.availability import is_connection_error
from dispatcher.store.deliveries import (
    Claim,
    as_utc,
    claim_deliveries,
    claim_delivery,
    hold_deliveries,
    mark_possible_duplicates,
    move_delivery,
)

log = logging.getLogger("dispatcher.deliver")


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
            opening = hold_until(facts.category, facts.school, moment, facts.school_days)
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

        claim = Claim.new(runtime.worker_id)
        if not claim_delivery(
            session, delivery_id, moment, DeliveryState(delivery.state), delivery.not_before, claim
        ):
            session.rollback()
            return DeliveryOutcome(Outcome.SKIPPED)
        names = student_names(session, facts.school_id, [delivery.contact_id])
        session.commit()  # the claim; no connection is held while the provider is called
        ctx = BatchContext(runtime, session, facts, now, enqueue)
        prepared = prepare(runtime.templates, facts, delivery, names[delivery.contact_id])
        batch = BatchOutcome()
        retry = _send_and_record(ctx, [prepared], batch, claim)
        outcome = batch.outcomes.get(delivery_id, Outcome.SKIPPED)
        if outcome in (Outcome.SENT, Outcome.FAILED):
            finish_announcements(runtime, [delivery.announcement_id])
        if retry and outcome is Outcome.WAITING:
            enqueue(retry)
        elif outcome is Outcome.SENT:
            log.info("delivery %s sent on %s", delivery_id, delivery.channel)
        return DeliveryOutcome(outcome, batch.retry_after.get(delivery_id))


@dataclass
class BatchOutcome:
    """What ``deliver_batch`` did with each id of its message."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    #: The provider's wait, for each id it asked to retry after a while.
    retry_after: dict[int, float | None] = field(default_factory=dict)
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
    if any(o in (Outcome.SENT, Outcome.FAILED) for o in result.outcomes.values()):
        finish_announcements(runtime, by_announcement)
    return result


def finish_announcements(runtime: Runtime, announcement_ids: Iterable[int]) -> None:
    """Mark done those of ``announcement_ids`` with nothing left to send, in a transaction
    of its own after the sends were committed (``store.announcements``). Skipped while the
    database is away: the sweep settles them."""
    ids = sorted(set(announcement_ids))
    if not ids or runtime.database.is_open:
        return
    try:
        with runtime.sessions.begin() as session:
            finish_sending(session, ids)
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        runtime.database.trip(exc)


def _deliver_announcement_rows(
    ctx: BatchContext, rows: list[DueDelivery], result: BatchOutcome
) -> None:
    session, facts, settings = ctx.session, ctx.facts, ctx.runtime.settings
    moment = ctx.now()
    opening = hold_until(facts.category, facts.school, moment, facts.school_days)
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

    claim = Claim.new(ctx.runtime.worker_id)
    claimed = set(claim_deliveries(session, pending, due_held, moment, claim))
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
    retry = _send_and_record(ctx, prepared, result, claim)
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
    ctx: BatchContext, prepared: list[PreparedDelivery], result: BatchOutcome, claim: Claim
) -> list[QueuedWork]:
    """Send claimed deliveries, texts and pushes first (in an urgent category they are the
    message, the emails its back-up), emails sharing requests where the adapter can; journal
    every send and record the receipts ``RECORD_EVERY`` per commit, each outcome in
    ``result``. Returns the retries to hand to the one-id actor.

    No send starts while the database breaker is open: what is left of the claim is given
    back through the journal. A request cut short (the thread interrupted) is journaled as
    unknown, the rest given back, and the interruption goes on."""
    retry: list[QueuedWork] = []
    actor = DELIVER_ACTOR[ctx.facts.category.urgency]
    claim_log = ClaimLog(ctx, claim)
    ctx.runtime.active_claims.add(claim.token)
    try:
        return _send_claimed(ctx, prepared, result, claim_log, actor, retry)
    finally:
        claim_log.close()
        ctx.runtime.active_claims.discard(claim.token)


def _send_claimed(
    ctx: BatchContext,
    prepared: list[PreparedDelivery],
    result: BatchOutcome,
    claim_log: ClaimLog,
    actor: str,
    retry: list[QueuedWork],
) -> list[QueuedWork]:
    left = {item.delivery.id: item for item in prepared}
    in_flight: list[int] = []

    def settle(
        item: PreparedDelivery, outcome: DeliveryOutcome, receipt: ProviderReceipt | None
    ) -> None:
        left.pop(item.delivery.id, None)
        result.outcomes[item.delivery.id] = outcome.outcome
        result.retry_after[item.delivery.id] = outcome.retry_after
        if receipt is not None:
            claim_log.sent([(item, receipt)])
        elif outcome.outcome in (Outcome.RETRY, Outcome.WAITING):
            delay = outcome.retry_after or FIRST_RETRY_SECONDS
            retry.append(QueuedWork(actor, item.delivery.id, int(delay * 1000)))

    def send_one(item: PreparedDelivery) -> None:
        settle(item, *_send(ctx, item, claim_log, in_flight))

    emails = [p for p in prepared if p.message is not None and p.message.channel is Channel.EMAIL]
    email_ids = {item.delivery.id for item in emails}
    database = ctx.runtime.database
    try:
        for item in prepared:
            if item.delivery.id not in email_ids and not database.is_open:
                send_one(item)
        email_adapter = ctx.runtime.adapter_for(ctx.facts.school, Channel.EMAIL) if emails else None
        batcher = batch_sending(email_adapter)
        if database.is_open:
            pass
        elif len(emails) > 1 and email_adapter is not None and batcher is not None:
            ctx.channel_stop(email_adapter)
            _send_shared(ctx, emails, batcher, email_adapter.name, claim_log, settle, in_flight)
        else:
            for item in emails:
                if not database.is_open:
                    send_one(item)
    except Exception as exc:
        if not is_connection_error(exc):
            _interrupted(claim_log, in_flight, left, result)
            raise
        ctx.session.rollback()
        database.trip(exc)
        # The request was answered (its failure could not be recorded): try it again.
        claim_log.given_back(in_flight)
        in_flight.clear()
    except BaseException:
        _interrupted(claim_log, in_flight, left, result)
        raise
    if left:
        given_back = claim_log.given_back(i for i in left if i not in in_flight)
        result.handed_on.update(given_back)
        log.warning(
            "announcement %s: %d claimed deliveries given back (database unreachable)",
            ctx.facts.id,
            len(given_back),
        )
    if not database.is_open:
        claim_log.flush()
    else:
        claim_log.keep()  # the receipts wait in the journal for the database
    return retry


def _interrupted(
    claim_log: ClaimLog,
    in_flight: list[int],
    left: dict[int, PreparedDelivery],
    result: BatchOutcome,
) -> None:
    """The thread was interrupted mid-claim: the request in flight is unknown, the rest of
    the claim given back, the receipts kept (all through the journal)."""
    claim_log.interrupted(in_flight)
    given_back = claim_log.given_back(i for i in left if i not in in_flight)
    result.handed_on.update(given_back)
    try:
        claim_log.flush()
    except Exception:
        log.warning("receipts left in the send journal for the replay")


def _send(
    ctx: BatchContext, prepared: PreparedDelivery, claim_log: ClaimLog, in_flight: list[int]
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
    in_flight[:] = [delivery.id]
    claim_log.sending(in_flight)
    lost_answers = ambiguous_requests()
    confirming = confirms_by_callback(adapter)
    try:
        with confirming_lost_answers(confirming):
            receipt = adapter.send(prepared.message)
    except ChannelError as exc:
        in_flight.clear()
        if confirming and lost_answer(exc):
            claim_log.unconfirmed([delivery.id])
            return DeliveryOutcome(Outcome.UNCONFIRMED), None
        decision = decide_failure(exc, Channel(delivery.channel))
        if ambiguous_requests() > lost_answers:
            mark_possible_duplicates(ctx.session, [delivery.id])
        return record_failure(ctx, delivery, decision, adapter.name), None
    in_flight.clear()
    if ambiguous_requests() > lost_answers:
        claim_log.doubt([delivery.id])
    return DeliveryOutcome(Outcome.SENT), receipt


Settle = Callable[[PreparedDelivery, DeliveryOutcome, ProviderReceipt | None], None]


def _send_shared(
    ctx: BatchContext,
    prepared: list[PreparedDelivery],
    adapter: BatchSending,
    provider: str,
    claim_log: ClaimLog,
    settle: Settle,
    in_flight: list[int],
) -> None:
    """Send the emails of a batch through an adapter that shares one request among
    identical messages (SendGrid personalizations); every delivery keeps its own result,
    settled the moment it is known (receipts first, so that they are journaled before any
    failure is recorded). On a stopped channel nothing is sent: the deliveries wait for the
    stop to end."""
    stop = ctx.known_stops.get(provider)
    if stop is not None:
        for item in prepared:
            settle(item, wait_for_channel(ctx, item.delivery, stop), None)
        return
    in_flight_ids = [p.delivery.id for p in prepared]
    in_flight[:] = in_flight_ids
    claim_log.sending(in_flight)
    lost_answers = ambiguous_requests()
    confirming = confirms_by_callback(adapter)
    with confirming_lost_answers(confirming):
        results = adapter.send_batch([p.message for p in prepared if p.message is not None])
    in_flight.clear()
    if confirming:  # the Event Webhook will say what the requests that lost answers did
        waiting = {i for i in in_flight_ids if lost_answer(results[i])}
        claim_log.unconfirmed(sorted(waiting))
        for item in prepared:
            if item.delivery.id in waiting:
                settle(item, DeliveryOutcome(Outcome.UNCONFIRMED), None)
        prepared = [p for p in prepared if p.delivery.id not in waiting]
    elif ambiguous_requests() > lost_answers:  # a request of the batch lost its answer
        sent = [
            p.delivery.id for p in prepared if isinstance(results[p.delivery.id], ProviderReceipt)
        ]
        claim_log.doubt(sent)  # marked with their receipts
        mark_possible_duplicates(
            ctx.session, [p.delivery.id for p in prepared if p.delivery.id not in sent]
        )  # committed with their failures
    for item in prepared:
        result = results[item.delivery.id]
        if isinstance(result, ProviderReceipt):
            settle(item, DeliveryOutcome(Outcome.SENT), result)
    for item in prepared:
        result = results[item.delivery.id]
        if not isinstance(result, ProviderReceipt):
            decision = decide_failure(result, Channel(item.delivery.channel))
            settle(item, record_failure(ctx, item.delivery, decision, provider), None)
