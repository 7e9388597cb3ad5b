"""Prometheus metrics, computed when scraped.

The web process and the workers are different processes, so nothing is counted in memory:
each scrape reads the database (deliveries by channel and state, of announcements created
in the last ``RECENT_ANNOUNCEMENTS``; provider latency =
``sent_at - claimed_at`` and confirmation time = ``delivered_at - sent_at`` over deliveries
sent in the last ``LATENCY_WINDOW``, of announcements created in the last
``RECENT_ANNOUNCEMENTS``) and Redis (the length of each Dramatiq queue, using
the Redis broker's key layout: ``dramatiq:<queue>`` holds the ids of messages waiting for a
worker, ``dramatiq:<queue>.DQ.msgs`` the delayed messages not yet done).

| metric | type | labels |
|---|---|---|
| ``dispatcher_announcements`` | gauge | state |
| ``dispatcher_deliveries`` | gauge | channel, state |
| ``dispatcher_provider_latency_seconds`` | histogram | channel, provider |
| ``dispatcher_delivery_confirmation_seconds`` | histogram | channel, provider |
| ``dispatcher_queue_depth`` | gauge | queue |
| ``dispatcher_queue_delayed`` | gauge | queue |
| ``dispatcher_channel_stopped`` | gauge | provider (twilio, sendgrid, fcm) |
| ``dispatcher_workers`` | gauge | status (working, waiting for the database) |
| ``dispatcher_send_journal_entries`` | gauge | |
| ``dispatcher_reminders_missed_total`` | counter | school |
| ``dispatcher_scrape_source_up`` | gauge | source (database, redis) |

``dispatcher_reminders_missed_total`` counts calendar reminders recorded as not sent because
no clock ran when they were due (``reminder_fires`` rows with outcome ``missed``): families did
not get notice they were promised, so any increase is an alert.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from dispatcher.channels.settings import PROVIDER_NAMES
from dispatcher.domain import AnnouncementState
from dispatcher.queue.embedded_redis import resolve_redis_url
from dispatcher.queue.names import DELIVERY_QUEUES, PLAN_QUEUE
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import Announcement, Delivery, ReminderFire, School

log = logging.getLogger("dispatcher.metrics")

#: Deliveries sent this recently feed the latency histograms.
LATENCY_WINDOW: Final = timedelta(minutes=15)
#: Only announcements created this recently are counted and searched for recent sends (a
#: held newsletter may go out days after it was planned).
RECENT_ANNOUNCEMENTS: Final = timedelta(days=7)
#: At most this many recent deliveries are read per scrape.
LATENCY_SAMPLE: Final = 20_000
LATENCY_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
CONFIRMATION_BUCKETS: Final = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
#: Dramatiq's Redis broker prefixes its keys with this namespace (its default).
DRAMATIQ_NAMESPACE: Final = "dramatiq"
QUEUES: Final = (PLAN_QUEUE, *DELIVERY_QUEUES.values())

_clients: dict[str, redis.Redis[Any]] = {}
_clients_lock = threading.Lock()


def redis_client(runtime: Runtime) -> redis.Redis[Any]:
    """A Redis client for the runtime's broker, with short timeouts (for probes, one per
    URL per process)."""
    url = resolve_redis_url(runtime.settings)
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=1.0, socket_timeout=2.0
            )
        return client


def histogram_buckets(samples: Sequence[float], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets (``le`` bound, count) for ``samples``, ending +Inf."""
    buckets = [(str(bound), float(sum(1 for s in samples if s <= bound))) for bound in bounds]
    buckets.append(("+Inf", float(len(samples))))
    return buckets


def queue_keys(queue: str) -> tuple[str, str]:
    """The Redis keys of ``queue``'s waiting message ids and its delayed messages."""
    return f"{DRAMATIQ_NAMESPACE}:{queue}", f"{DRAMATIQ_NAMESPACE}:{queue}.DQ.msgs"


class DispatcherCollector(Collector):
    """Reads the database and Redis at scrape time; a source that cannot be read is
    reported down (``dispatcher_scrape_source_up``) instead of failing the scrape."""

    def __init__(self, runtime: Runtime, now: datetime) -> None:
        self.runtime = runtime
        self.now = now

    def collect(self) -> Iterator[Metric]:
        """Every metric, computed now."""
        up = GaugeMetricFamily(
            "dispatcher_scrape_source_up",
            "Whether this scrape could read the source (1) or not (0).",
            labels=["source"],
        )
        try:
            database_metrics = list(self._database())
            up.add_metric(["database"], 1.0)
        except Exception:
            log.exception("metrics: cannot read the database")
            database_metrics = []
            up.add_metric(["database"], 0.0)
        try:
            redis_metrics = list(self._redis())
            up.add_metric(["redis"], 1.0)
        except Exception:
            log.warning("metrics: cannot read Redis")
            redis_metrics = []
            up.add_metric(["redis"], 0.0)
        yield from database_metrics
        yield from redis_metrics
        yield up

    def _database(self) -> Iterable[Metric]:
        deliveries = GaugeMetricFamily(
            "dispatcher_deliveries",
            "Deliveries of the announcements created in the last 7 days, by channel and state.",
            labels=["channel", "state"],
        )
        recent_announcements = select(Announcement.id).where(
            Announcement.created_at >= self.now - RECENT_ANNOUNCEMENTS
        )
        announcements = GaugeMetricFamily(
            "dispatcher_announcements",
            "Announcements created in the last 7 days, by state (received, planning, sending, "
            "done, cancelled).",
            labels=["state"],
        )
        latency: dict[tuple[str, str], list[float]] = defaultdict(list)
        confirmation: dict[tuple[str, str], list[float]] = defaultdict(list)
        with self.runtime.sessions() as session:
            by_state = dict.fromkeys((s.value for s in AnnouncementState), 0)
            for state, n in session.execute(
                select(Announcement.state, func.count())
                .where(Announcement.created_at >= self.now - RECENT_ANNOUNCEMENTS)
                .group_by(Announcement.state)
            ):
                by_state[state] = int(n)
            for state, n in by_state.items():
                announcements.add_metric([state], float(n))
            for channel, state, n in session.execute(
                # through the announcement index: a scrape never counts a year of deliveries
                select(Delivery.channel, Delivery.state, func.count())
                .where(Delivery.announcement_id.in_(recent_announcements))
                .group_by(Delivery.channel, Delivery.state)
            ):
                deliveries.add_metric([channel, state], float(n))
            recent = session.execute(
                select(
                    Delivery.channel,
                    Delivery.provider,
                    Delivery.claimed_at,
                    Delivery.sent_at,
                    Delivery.delivered_at,
                )
                .where(
                    # through the announcement index: sent_at has none of its own
                    Delivery.announcement_id.in_(recent_announcements),
                    Delivery.sent_at >= self.now - LATENCY_WINDOW,
                )
                .order_by(Delivery.sent_at.desc())
                .limit(LATENCY_SAMPLE)
            ).all()
            missed_by_school: dict[str, int] = dict.fromkeys(self.runtime.configuration.schools, 0)
            for slug, n in session.execute(
                select(School.slug, func.count())
                .join(ReminderFire, ReminderFire.school_id == School.id)
                .where(ReminderFire.outcome == "missed")
                .group_by(School.slug)
            ):
                missed_by_school[slug] = int(n)
        for row in recent:
            key = (row.channel, row.provider or "unknown")
            sent = as_utc(row.sent_at)
            if row.claimed_at is not None:
                latency[key].append(max(0.0, (sent - as_utc(row.claimed_at)).total_seconds()))
            if row.delivered_at is not None:
                confirmation[key].append(
                    max(0.0, (as_utc(row.delivered_at) - sent).total_seconds())
                )
        yield announcements
        yield deliveries
        missed = CounterMetricFamily(
            "dispatcher_reminders_missed",
            "Calendar reminders not sent because no clock ran when they were due (each is "
            "also logged as an ALERT): the families did not get the notice.",
            labels=["school"],
        )
        for slug, n in sorted(missed_by_school.items()):
            missed.add_metric([slug], float(n))
        yield missed
        yield self._histogram(
            "dispatcher_provider_latency_seconds",
            "Time from claiming a delivery to the provider accepting it (sent_at - claimed_at), "
            "deliveries sent in the last 15 minutes.",
            latency,
            LATENCY_BUCKETS,
        )
        yield self._histogram(
            "dispatcher_delivery_confirmation_seconds",
            "Time from the provider accepting a message to its delivery report "
            "(delivered_at - sent_at), deliveries sent in the last 15 minutes.",
            confirmation,
            CONFIRMATION_BUCKETS,
        )

    @staticmethod
    def _histogram(
        name: str,
        documentation: str,
        samples: dict[tuple[str, str], list[float]],
        bounds: Sequence[float],
    ) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=["channel", "provider"])
        for (channel, provider), values in sorted(samples.items()):
            family.add_metric(
                [channel, provider], histogram_buckets(values, bounds), sum_value=sum(values)
            )
        return family

    def _redis(self) -> Iterable[Metric]:
        client = redis_client(self.runtime)
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            waiting, delayed = queue_keys(queue)
            pipe.llen(waiting)
            pipe.hlen(delayed)
        lengths = pipe.execute()
        depth = GaugeMetricFamily(
            "dispatcher_queue_depth",
            "Messages waiting in each Dramatiq queue for a worker.",
            labels=["queue"],
        )
        delayed_family = GaugeMetricFamily(
            "dispatcher_queue_delayed",
            "Delayed messages (retries, send windows) of each queue not yet done.",
            labels=["queue"],
        )
        for index, queue in enumerate(QUEUES):
            depth.add_metric([queue], float(lengths[2 * index]))
            delayed_family.add_metric([queue], float(lengths[2 * index + 1]))
        yield depth
        yield delayed_family
        stopped = GaugeMetricFamily(
            "dispatcher_channel_stopped",
            "1 while the provider's channel is stopped because it refused our account.",
            labels=["provider"],
        )
        names = {stop.provider for stop in self.runtime.channel_stops.all()}
        for provider in PROVIDER_NAMES:
            stopped.add_metric([provider], 1.0 if provider in names else 0.0)
        yield stopped
        workers = GaugeMetricFamily(
            "dispatcher_workers",
            "Living worker processes by what they say of themselves (waiting for the "
            "database: their breaker is open and they claim no work).",
            labels=["status"],
        )
        by_status = worker_statuses(self.runtime)
        for status in WORKER_STATUSES:
            workers.add_metric([status], float(by_status.get(status, 0)))
        yield workers
        yield GaugeMetricFamily(
            "dispatcher_send_journal_entries",
            "Sends and claims in the Redis send journal not yet in the database.",
            value=float(self.runtime.journal.size()),
        )


#: What a worker's heartbeat says it is doing (``dispatcher.worker.heart``).
WORKER_STATUSES: Final = ("working", "waiting for the database")


def worker_statuses(runtime: Runtime) -> dict[str, int]:
    """How many living workers report each status."""
    counts: dict[str, int] = defaultdict(int)
    for worker in runtime.heartbeats.living():
        counts[worker.status] += 1
    return dict(counts)


def render_metrics(runtime: Runtime, now: datetime) -> bytes:
    """The Prometheus text exposition of every metric, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DispatcherCollector(runtime, now))
    return generate_latest(registry)
