"""Running Dramatiq workers in this process, with the recovery sweep alongside."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import func, or_, select

from dispatcher.domain import ACTIVE_STATES, UNPLANNED_STATES, MisEventStatus, Urgency
from dispatcher.queue.names import DELIVERY_QUEUES, PLAN_QUEUE
from dispatcher.runtime import Runtime, current_runtime
from dispatcher.stopping import SignalStop
from dispatcher.store.availability import is_connection_error
from dispatcher.store.models import Announcement, Delivery, MisEvent
from dispatcher.tracking.stopped_channels import waiting_on_stopped_providers
from dispatcher.worker.heart import Heart
from dispatcher.worker.sweep import ENQUEUE_SETTLE, settle_announcements, settle_claims, sweep

log = logging.getLogger("dispatcher.worker")


def outstanding_work(runtime: Runtime, now: datetime) -> int:
    """How many deliveries are pending or sending, announcements still to be planned and MIS
    events still to be applied (announcements scheduled for later, deliveries held for a
    send window and deliveries waiting for a stopped provider do not count)."""
    with runtime.sessions() as session:
        deliveries = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.state.in_([s.value for s in ACTIVE_STATES]))
        )
        waiting = waiting_on_stopped_providers(runtime, session)
        plans = session.scalar(
            select(func.count())
            .select_from(Announcement)
            .where(
                Announcement.state.in_(UNPLANNED_STATES),
                or_(Announcement.send_at.is_(None), Announcement.send_at <= now),
            )
        )
        events = session.scalar(
            select(func.count())
            .select_from(MisEvent)
            .where(MisEvent.status == MisEventStatus.RECEIVED)
        )
    return int(deliveries or 0) - waiting + int(plans or 0) + int(events or 0)


def lanes() -> dict[str, frozenset[str]]:
    """Queues served by each lane of worker threads.

    Urgent work has threads of its own, so an emergency closure never waits behind a
    newsletter: within the routine lane, normal work still goes before bulk (priority).
    """
    return {
        "urgent": frozenset({PLAN_QUEUE, DELIVERY_QUEUES[Urgency.URGENT]}),
        "routine": frozenset({DELIVERY_QUEUES[Urgency.NORMAL], DELIVERY_QUEUES[Urgency.BULK]}),
    }


#: How often (ms) an idle lane looks for new messages at most: an emergency is picked up
#: within a tenth of a second (twice: its plan, then its first deliveries).
LANE_POLL_MS = {"urgent": 100, "routine": 500}


def warm_up(runtime: Runtime) -> None:
    """Do before the first message what would otherwise delay it: import and set up the
    provider adapters, compile the templates."""
    adapters = runtime.channels.all_adapters()
    templates = runtime.templates.compile_all()
    log.info("ready: %d channel adapters, %d templates", len(adapters), templates)


def start_workers(broker: dramatiq.Broker, threads: int) -> list[dramatiq.Worker]:
    """Start one Dramatiq worker per lane, each with ``threads`` threads."""
    # Each lane registers its own consumer-management middleware on the shared broker, which
    # Dramatiq reports as a possible mistake; here it is intended.
    logging.getLogger("dramatiq.broker.RedisBroker").addFilter(
        lambda record: "same type twice" not in record.getMessage()
    )
    workers = [
        dramatiq.Worker(
            broker, queues=set(queues), worker_threads=threads, worker_timeout=LANE_POLL_MS[lane]
        )
        for lane, queues in lanes().items()
    ]
    for worker in workers:
        # A message is a batch of deliveries: a process holds at most one per thread
        # (Dramatiq's default is two), so that at the end of an announcement no process sits
        # on a backlog while another has run out of work.
        worker.queue_prefetch = threads
        worker.start()
    return workers


def run_worker(threads: int = 8, until_idle: bool = False, idle_checks: int = 3) -> None:
    """Consume every queue with ``threads`` threads until stopped (SIGINT/SIGTERM), or, with
    ``until_idle``, until no work is outstanding on ``idle_checks`` checks in a row."""
    from dispatcher.worker.actors import broker

    runtime = current_runtime()
    warm_up(runtime)
    stop = SignalStop()
    stop.install()
    heart = Heart(runtime, broker)
    heart.beat_once()
    heart.start()
    workers = start_workers(broker, threads)
    log.info("worker %s started: %d threads per lane", runtime.worker_id, threads)
    interval = runtime.settings.sweep_interval_seconds
    next_sweep = time.monotonic()
    next_settle = time.monotonic()
    idle_in_a_row = 0
    try:
        while not stop.is_set():
            now = datetime.now(UTC)
            if heart.sweep_now.is_set() or time.monotonic() >= next_sweep:
                woken = heart.sweep_now.is_set()
                heart.sweep_now.clear()
                _quietly(runtime, "recovery sweep", sweep, broker, now)
                # Woken by lost Redis data or the database's return: look again once the
                # rows queued just before it have settled.
                follow_up = ENQUEUE_SETTLE.total_seconds() + 1 if woken else interval
                next_sweep = time.monotonic() + min(interval, follow_up)
                next_settle = time.monotonic() + SETTLE_SECONDS
            elif time.monotonic() >= next_settle:
                _quietly(runtime, "settling claims", settle_claims, broker, now)
                next_settle = time.monotonic() + SETTLE_SECONDS
            if until_idle and not runtime.database.is_open:
                idle_in_a_row = idle_in_a_row + 1 if outstanding_work(runtime, now) == 0 else 0
                if idle_in_a_row >= idle_checks:
                    break
            stop.wait(0.3)
    finally:
        for worker in workers:
            worker.stop(timeout=30_000)
        if until_idle:
            # Nothing is left to send: every announcement whose last send raced another says
            # so before the command returns (the office reads "done" straight after).
            _quietly(
                runtime,
                "settling announcements",
                _settle_announcements,
                broker,
                datetime.now(UTC),
            )
        heart.stop()
        log.info("worker stopped")


def _settle_announcements(
    runtime: Runtime, broker: RedisBroker, now: datetime, *, send_urgent_now: bool
) -> None:
    settle_announcements(runtime)


#: How often the quick part of the sweep (the journal, dead workers' claims) runs.
SETTLE_SECONDS = 1.0


def _quietly(
    runtime: Runtime,
    what: str,
    step: Callable[..., object],
    broker: RedisBroker,
    now: datetime,
) -> None:
    """Run one recovery step; a failure (database or Redis away) is retried next time and
    never stops the worker; while the database breaker is open nothing is tried."""
    if runtime.database.is_open:
        return
    try:
        step(runtime, broker, now, send_urgent_now=True)
    except Exception as exc:
        if is_connection_error(exc):
            runtime.database.trip(exc)
        else:
            log.warning("%s failed (%s); retrying", what, type(exc).__name__)
