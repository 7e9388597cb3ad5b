"""Dramatiq actors: thin wrappers that run planning, delivery and MIS events with the
process runtime.

Importing this module sets up the broker (the one piece of global state) from the
environment. The broker's ``InFlightMarkers`` middleware clears each message's in-flight
markers once its actor returns, except those of the ids the actor queued again (``hand_on``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import TimeLimit

from dispatcher.delivery.deliver import deliver, deliver_batch
from dispatcher.delivery.outcomes import Outcome
from dispatcher.domain import Urgency
from dispatcher.planning.plan import plan_announcement
from dispatcher.queue.broker import setup_broker
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.inflight import hand_on
from dispatcher.queue.names import (
    DELIVERY_QUEUES,
    MIS_EVENT_ACTOR,
    PLAN_ACTOR,
    PLAN_QUEUE,
    QUEUE_PRIORITY,
)
from dispatcher.queue.work import QueuedWork
from dispatcher.retries import DELIVERY_RETRIES, PLAN_RETRIES
from dispatcher.runtime import current_runtime
from dispatcher.signoff.requests import NOTICE_ACTOR
from dispatcher.store.availability import is_connection_error
from dispatcher.worker.gate import DatabaseGate

broker: RedisBroker = setup_broker()
broker.add_middleware(DatabaseGate(), before=TimeLimit)

#: How soon a message that met an unreachable database is tried again (it then waits at
#: the gate until the database answers).
DATABASE_RETRY_MS = 500


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def _enqueue(work: list[QueuedWork]) -> None:
    enqueue(broker, work)


class RetryLater(dramatiq.Retry):
    """Raised so that Dramatiq's Retries middleware tries the message again: after the
    provider's Retry-After when it gave one, else with exponential backoff."""


@dramatiq.actor(
    actor_name=PLAN_ACTOR,
    queue_name=PLAN_QUEUE,
    priority=QUEUE_PRIORITY[PLAN_QUEUE],
    max_retries=PLAN_RETRIES,
)
def plan_announcement_actor(announcement_id: int) -> None:
    """Plan one announcement: write its deliveries and queue them."""
    with _database_errors_retried():
        plan_announcement(current_runtime(), announcement_id, utc_now, _enqueue)


@contextmanager
def _database_errors_retried() -> Iterator[None]:
    """A lost database connection opens the breaker and retries the message soon (it then
    waits at the gate); anything else propagates."""
    try:
        yield
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        current_runtime().database.trip(exc)
        raise RetryLater("database unreachable", delay=DATABASE_RETRY_MS) from exc


def _deliver(delivery_id: int) -> None:
    with _database_errors_retried():
        result = deliver(current_runtime(), delivery_id, utc_now, _enqueue)
    if result.outcome is Outcome.RETRY:
        delay = int(result.retry_after * 1000) if result.retry_after else None
        raise RetryLater(f"delivery {delivery_id}: provider asked to retry", delay=delay)
    if result.outcome in (Outcome.HELD, Outcome.WAITING):  # queued again, with a delay
        hand_on([delivery_id])


def _delivery_actor(urgency: Urgency) -> dramatiq.Actor[[int], None]:
    queue = DELIVERY_QUEUES[urgency]
    decorator = dramatiq.actor(
        actor_name=f"deliver_{urgency.value}",
        queue_name=queue,
        priority=QUEUE_PRIORITY[queue],
        retry_when=_retry_when,
    )
    return decorator(_deliver)


def _deliver_batch(delivery_ids: list[int]) -> None:
    with _database_errors_retried():
        result = deliver_batch(current_runtime(), delivery_ids, utc_now, _enqueue)
    hand_on(result.handed_on)


def _delivery_batch_actor(urgency: Urgency) -> dramatiq.Actor[[list[int]], None]:
    queue = DELIVERY_QUEUES[urgency]
    decorator = dramatiq.actor(
        actor_name=f"deliver_{urgency.value}_batch",
        queue_name=queue,
        priority=QUEUE_PRIORITY[queue],
        max_retries=DELIVERY_RETRIES,
    )
    return decorator(_deliver_batch)


def _retry_when(retries: int, exc: Exception) -> bool:
    # Only a provider's "try again" is retried; a bug fails loudly instead of looping.
    return isinstance(exc, RetryLater) and retries < DELIVERY_RETRIES


deliver_urgent = _delivery_actor(Urgency.URGENT)
deliver_normal = _delivery_actor(Urgency.NORMAL)
deliver_bulk = _delivery_actor(Urgency.BULK)
deliver_urgent_batch = _delivery_batch_actor(Urgency.URGENT)
deliver_normal_batch = _delivery_batch_actor(Urgency.NORMAL)
deliver_bulk_batch = _delivery_batch_actor(Urgency.BULK)

ALL_QUEUES = frozenset({PLAN_QUEUE, *DELIVERY_QUEUES.values()})


# --- MIS events ----------------------------------------------------------------------
# On the "plan" queue: events are few, quick to apply, and what they usually produce (a payment
# request) is itself planned there; the queue already has a lane in every worker.


@dramatiq.actor(
    actor_name=MIS_EVENT_ACTOR,
    queue_name=PLAN_QUEUE,
    priority=QUEUE_PRIORITY[PLAN_QUEUE],
    max_retries=PLAN_RETRIES,
)
def process_mis_event(mis_event_id: int) -> None:
    """Apply one stored MIS event (roster change or payment request) and mark it done."""
    from dispatcher.triggers.mis.processing import process_event

    with _database_errors_retried():
        process_event(current_runtime(), mis_event_id, utc_now(), _enqueue)


# --- Notices to staff ----------------------------------------------------------------
# On the urgent queue: a senior asked to sign off an emergency is told at once.


@dramatiq.actor(
    actor_name=NOTICE_ACTOR,
    queue_name=DELIVERY_QUEUES[Urgency.URGENT],
    priority=QUEUE_PRIORITY[DELIVERY_QUEUES[Urgency.URGENT]],
    max_retries=DELIVERY_RETRIES,
)
def notify_staff(notification_id: int) -> None:
    """Send one notice (text or email) telling a senior a request waits for sign-off."""
    from dispatcher.signoff.notices import NoticeResult, send_notice

    with _database_errors_retried():
        result = send_notice(current_runtime(), notification_id, utc_now())
    if result is NoticeResult.RETRY:
        raise RetryLater(f"staff notice {notification_id}: provider asked to retry")
