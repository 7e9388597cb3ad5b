"""The recovery sweep: ordinary, visible code that finds work the queue lost and puts it back.

Run every ``DISPATCHER_SWEEP_INTERVAL_SECONDS`` by each worker process (it is idempotent, so
two workers sweeping at once only repeat each other's harmless re-enqueues):

- ``replay_lost_plans``: announcements received or half planned whose plan message is gone.
- ``replay_lost_deliveries``: pending deliveries (and held ones whose time has come) whose
  queue message is gone: Redis restarted or was flushed, or a process died between committing
  the rows and queueing them.
- ``settle_announcements``: announcements with nothing left to send marked ``done`` (a
  worker does it after its last send; this catches a race or a crash).
- ``settle_claims`` (also run on its own every second or two, ``dispatcher.worker.run``):
  the send journal replayed into the database, and the claims of workers known dead settled
  by it (``dispatcher.delivery.recovery``): a duplicate is possible only for a request that
  was in flight at the instant its worker died, and such a delivery is marked
  ``possible_duplicate`` for the report.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import or_, select

from dispatcher.delivery.deliver import deliver_batch
from dispatcher.delivery.recovery import (
    release_dead_workers,
    release_unowned,
    replay_journal,
    requeue_work,
)
from dispatcher.domain import UNPLANNED_STATES, DeliveryState, Urgency
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.inflight import delivery_marker, missing_markers, plan_marker
from dispatcher.queue.names import DELIVER_BATCH_ACTOR, PLAN_ACTOR
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.announcements import settle_announcement_states
from dispatcher.store.models import Announcement, Delivery

log = logging.getLogger("dispatcher.sweep")

#: A row younger than this may still be on its way to the queue: leave it alone.
ENQUEUE_SETTLE = timedelta(seconds=5)
SWEEP_BATCH = 2000


@dataclass
class SweepReport:
    """How much each part of the sweep put back."""

    plans: int = 0
    deliveries: int = 0
    #: Sends recorded from the send journal (or the outbox) rather than by their worker.
    recorded_from_journal: int = 0
    #: Claims put back to pending: given back, or of a dead worker.
    released: int = 0
    #: Of those, deliveries whose request was in flight: possibly sent twice.
    possibly_twice: int = 0
    dead_workers: int = 0
    #: Announcements moved between sending and done (what a race or a crash left behind).
    announcements: int = 0


def settle_claims(
    runtime: Runtime,
    broker: RedisBroker,
    now: datetime,
    *,
    send_urgent_now: bool = False,
    include_unowned: bool = False,
) -> SweepReport:
    """The quick part of the sweep, run every second or two: replay this process's journal
    entries and settle the claims of dead workers (and, with ``include_unowned``, as the
    full sweep does, old claims that name no worker).

    With ``send_urgent_now`` (a worker process), released urgent deliveries are sent at once
    by threads of this process instead of joining the back of the urgent queue, where the
    rest of their announcement may be waiting: a dead worker's part of an emergency goes
    again within seconds."""

    def queue(work: list[QueuedWork]) -> None:
        urgent = [w for w in work if w.actor_name == URGENT_BATCH] if send_urgent_now else []
        enqueue(broker, [w for w in work if w not in urgent])
        for item in urgent:
            threading.Thread(
                target=_send_now,
                args=(runtime, broker, list(item.object_ids)),
                name="dispatcher-urgent-resend",
                daemon=True,
            ).start()

    report = SweepReport()
    parts = [replay_journal(runtime, queue, now), release_dead_workers(runtime, queue, now)]
    if include_unowned:
        parts.append(release_unowned(runtime, queue, now))
    for part in parts:
        report.recorded_from_journal += part.recorded
        report.released += part.released
        report.possibly_twice += part.possibly_twice
        report.dead_workers += part.dead_workers
    return report


#: The batch actor of urgent deliveries.
URGENT_BATCH = DELIVER_BATCH_ACTOR[Urgency.URGENT]


def _send_now(runtime: Runtime, broker: RedisBroker, delivery_ids: list[int]) -> None:
    """Deliver released urgent deliveries in this thread (what a worker thread would do)."""
    try:
        deliver_batch(
            runtime, delivery_ids, lambda: datetime.now(UTC), lambda w: enqueue(broker, w)
        )
    except Exception as exc:  # the sweep re-queues whatever is still pending
        log.warning("sending released urgent deliveries failed (%s)", type(exc).__name__)


def settle_announcements(runtime: Runtime) -> int:
    """Mark done the sending announcements with nothing left to send, and sending again the
    done ones a late fallback reopened (``store.announcements``)."""
    with runtime.sessions.begin() as session:
        return settle_announcement_states(session)


def replay_lost_plans(runtime: Runtime, broker: RedisBroker, now: datetime) -> int:
    """Re-queue the plan of announcements not yet planned whose plan message is gone."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Announcement.id).where(
                Announcement.state.in_(UNPLANNED_STATES),
                Announcement.created_at <= now - ENQUEUE_SETTLE,
                or_(Announcement.send_at.is_(None), Announcement.send_at <= now),
            )
        ).all()
    keys = {plan_marker(r.id): r.id for r in rows}
    lost = [keys[k] for k in missing_markers(broker, keys)]
    enqueue(broker, [QueuedWork(PLAN_ACTOR, a) for a in sorted(lost)])
    return len(lost)


def replay_lost_deliveries(runtime: Runtime, broker: RedisBroker, now: datetime) -> int:
    """Re-queue pending deliveries, and held ones now due, that are not in flight."""
    replayed = 0
    after = 0
    while True:
        with runtime.sessions() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.channel, Delivery.queue)
                .where(
                    Delivery.id > after,
                    or_(
                        (Delivery.state == DeliveryState.PENDING.value)
                        & or_(
                            Delivery.enqueued_at.is_(None),
                            Delivery.enqueued_at <= now - ENQUEUE_SETTLE,
                        ),
                        (Delivery.state == DeliveryState.HELD.value) & (Delivery.not_before <= now),
                    ),
                )
                .order_by(Delivery.id)
                .limit(SWEEP_BATCH)
            ).all()
        if not rows:
            return replayed
        after = rows[-1].id
        by_key = {delivery_marker(r.id): r for r in rows}
        lost = [by_key[k] for k in missing_markers(broker, by_key)]
        # Batched as planning batches them: emails still share requests.
        enqueue(broker, requeue_work(runtime, [(r.id, r.channel, r.queue) for r in lost]))
        replayed += len(lost)


def sweep(
    runtime: Runtime, broker: RedisBroker, now: datetime, *, send_urgent_now: bool = False
) -> SweepReport:
    """Run every part of the recovery sweep once."""
    report = settle_claims(
        runtime, broker, now, send_urgent_now=send_urgent_now, include_unowned=True
    )
    report.plans = replay_lost_plans(runtime, broker, now)
    report.deliveries = replay_lost_deliveries(runtime, broker, now)
    # MIS events stored but never processed (issue 6): queued again, logged by mis.py.
    from dispatcher.triggers.mis.processing import replay_received_events

    replay_received_events(runtime, broker, now)
    report.announcements = settle_announcements(runtime)
    if report.plans or report.deliveries:
        log.warning(
            "sweep: %d plans and %d deliveries re-queued (their queue messages were lost)",
            report.plans,
            report.deliveries,
        )
    return report
