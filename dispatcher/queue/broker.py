"""The Dramatiq broker set-up: middleware and retries. The only global state.

Urgent work is never stuck behind bulk work: each urgency has its own queue
(``dispatcher.queue.names``), and the worker takes messages by actor priority (lower runs
first), so an emergency closure overtakes a newsletter already waiting in the same worker.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines, Retries, TimeLimit

from dispatcher.queue.inflight import InFlightMarkers
from dispatcher.retries import DELIVERY_RETRIES, RETRY_MAX_BACKOFF_MS, RETRY_MIN_BACKOFF_MS
from dispatcher.settings import Settings, load_settings

#: Chance, per million Redis calls, that a consumer looks for dead workers' messages to
#: requeue (Dramatiq's default is 1,000: 0.1%). 5% brings a killed worker's messages back
#: within seconds of its heartbeat timing out; the check is a small sorted-set read.
MAINTENANCE_CHANCE = 50_000


def build_broker(redis_url: str, heartbeat_timeout_seconds: float = 30.0) -> RedisBroker:
    """A Redis broker with the middleware the dispatcher relies on."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=redis_url,
        middleware=[
            AgeLimit(),
            TimeLimit(time_limit=5 * 60_000),
            Callbacks(),
            Pipelines(),
            Retries(
                max_retries=DELIVERY_RETRIES,
                min_backoff=RETRY_MIN_BACKOFF_MS,
                max_backoff=RETRY_MAX_BACKOFF_MS,
            ),
            CurrentMessage(),
            InFlightMarkers(),
        ],
        heartbeat_timeout=int(heartbeat_timeout_seconds * 1000),
        maintenance_chance=MAINTENANCE_CHANCE,
        dead_message_ttl=7 * 24 * 3600 * 1000,
    )
    return broker


def setup_broker(settings: Settings | None = None) -> RedisBroker:
    """Build the broker for ``settings`` (default: the environment) and make it current."""
    from dispatcher.queue.embedded_redis import resolve_redis_url

    settings = settings or load_settings()
    broker = build_broker(resolve_redis_url(settings), settings.heartbeat_timeout_seconds)
    dramatiq.set_broker(broker)
    return broker
