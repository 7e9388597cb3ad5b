"""In-flight markers: knowing which queued work Redis still holds.

The queue only carries ids. Each message enqueued also gets an in-flight marker in Redis,
cleared when the message has been handled; the recovery sweep re-enqueues work whose row says
it should be queued but whose marker is gone (Redis restarted, flushed, or the enqueue never
happened because the process died after committing the row).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.names import MIS_EVENT_ACTOR, PLAN_ACTOR

MARKER_TTL_SECONDS = 24 * 3600
GENERATION_KEY = "dispatcher:generation"


#: The in-flight marker's kind per actor; every other actor delivers.
_MARKER_KINDS = {PLAN_ACTOR: "plan", MIS_EVENT_ACTOR: "mis"}


def _marker(actor_name: str, object_id: int) -> str:
    kind = _MARKER_KINDS.get(actor_name, "delivery")
    return f"dispatcher:inflight:{kind}:{object_id}"


def delivery_marker(delivery_id: int) -> str:
    """Redis key marking ``delivery_id`` as queued or being handled."""
    return f"dispatcher:inflight:delivery:{delivery_id}"


def plan_marker(announcement_id: int) -> str:
    """Redis key marking an announcement's plan as queued or running."""
    return _marker(PLAN_ACTOR, announcement_id)


def mis_marker(mis_event_id: int) -> str:
    """Redis key marking an MIS event as queued or being processed."""
    return _marker(MIS_EVENT_ACTOR, mis_event_id)


def current_generation(broker: RedisBroker) -> str:
    """The Redis generation: a random value that lives as long as Redis's data does.

    A FLUSHALL or a restart without persistence wipes it, so a marker written with an older
    generation (for instance by a process that was half way through a batch when Redis was
    flushed) is recognised as stale rather than trusted.
    """
    client = broker.client
    value = client.get(GENERATION_KEY)
    if value is None:
        client.set(GENERATION_KEY, uuid.uuid4().hex, nx=True)
        value = client.get(GENERATION_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)


def clear_marker(broker: RedisBroker, *keys: str) -> None:
    """Forget in-flight markers once their work is done."""
    if keys:
        broker.client.delete(*keys)


def missing_markers(broker: RedisBroker, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` not marked in flight in the current generation (work to replay)."""
    key_list = list(keys)
    if not key_list:
        return set()
    generation = current_generation(broker).encode()
    values = broker.client.mget(key_list)
    return {key for key, value in zip(key_list, values, strict=True) if value != generation}
