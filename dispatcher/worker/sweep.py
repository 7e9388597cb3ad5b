"""The recovery sweep: ordinary, visible code that finds work the queue lost and puts it back.

Run every ``DISPATCHER_SWEEP_INTERVAL_SECONDS`` by each worker process (it is idempotent, so
two workers sweeping at once only repeat each other's harmless re-enqueues):

- ``replay_lost_plans``: announcements received or half planned whose plan message is gone.
- ``replay_lost_deliveries``: pending deliveries (and held ones whose time has come) whose
  queue message is gone: Redis restarted or was flushed, or a process died between committing
  the rows and queueing them.
- ``release_stale_sending``: deliveries claimed by a worker that died mid-send. The adapter is
  asked first whether it already sent the message; if it cannot tell, the delivery waits
  ``DISPATCHER_SENDING_GRACE_SECONDS`` (for the provider's status callback) before it is
  retried. A duplicate is possible only if a worker died after the provider accepted the
  message but before the receipt was stored, *and* the provider's callback did not arrive
  within the grace period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import or_, select

from dispatcher.domain import UNPLANNED_STATES, Channel, DeliveryState
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.inflight import delivery_marker, missing_markers, plan_marker
from dispatcher.queue.names import PLAN_ACTOR, deliver_actor_of_queue
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import move_delivery
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
    released: int = 0
    confirmed_sent: int = 0


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
                select(Delivery.id, Delivery.queue)
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
        enqueue(
            broker,
            [QueuedWork(deliver_actor_of_queue(r.queue), r.id) for r in lost],
        )
        replayed += len(lost)


def release_stale_sending(runtime: Runtime, broker: RedisBroker, now: datetime) -> tuple[int, int]:
    """Settle deliveries stuck in ``sending``; return (confirmed sent, released for retry)."""
    grace = timedelta(seconds=runtime.settings.sending_grace_seconds)
    confirmed = released = 0
    with runtime.sessions() as session:
        stale = session.execute(
            select(Delivery.id, Delivery.channel, Delivery.queue).where(
                Delivery.state == DeliveryState.SENDING.value,
                Delivery.claimed_at <= now - grace,
            )
        ).all()
        retry: list[QueuedWork] = []
        for row in stale:
            # The outbox knows every message it recorded (schools in outbox mode, or no
            # credentials); providers cannot be asked by our id and answer None.
            receipt = runtime.outbox.find_sent(row.id) or runtime.channels.adapter_for(
                Channel(row.channel)
            ).find_sent(row.id)
            if receipt is not None:
                if move_delivery(
                    session,
                    row.id,
                    DeliveryState.SENT,
                    now=now,
                    code="recovered",
                    detail="sent before the worker stopped",
                    provider=receipt.provider,
                    provider_message_id=receipt.provider_message_id,
                    sent_at=now,
                ):
                    confirmed += 1
            elif move_delivery(
                session,
                row.id,
                DeliveryState.PENDING,
                now=now,
                code="released",
                detail="worker stopped mid-send; retrying after grace period",
                only_from=[DeliveryState.SENDING],
                enqueued_at=now,
            ):
                released += 1
                retry.append(QueuedWork(deliver_actor_of_queue(row.queue), row.id))
        session.commit()
    enqueue(broker, retry)
    return confirmed, released


def sweep(runtime: Runtime, broker: RedisBroker, now: datetime) -> SweepReport:
    """Run every part of the recovery sweep once."""
    report = SweepReport()
    report.plans = replay_lost_plans(runtime, broker, now)
    report.confirmed_sent, report.released = release_stale_sending(runtime, broker, now)
    report.deliveries = replay_lost_deliveries(runtime, broker, now)
    # MIS events stored but never processed (issue 6): queued again, logged by mis.py.
    from dispatcher.triggers.mis.processing import replay_received_events

    replay_received_events(runtime, broker, now)
    if report.plans or report.deliveries or report.released or report.confirmed_sent:
        log.warning(
            "sweep: %d plans and %d deliveries re-queued, %d stale sends released, "
            "%d confirmed sent",
            report.plans,
            report.deliveries,
            report.released,
            report.confirmed_sent,
        )
    return report
