"""Putting delivery and plan messages on the queue, and knowing which are in flight.

The queue only carries ids. Each message enqueued also gets an in-flight marker in Redis,
cleared when the message has been handled; the recovery sweep re-enqueues work whose row says
it should be queued but whose marker is gone (Redis restarted, flushed, or the enqueue never
happened because the process died after committing the row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.redis import RedisBroker

MARKER_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class QueuedWork:
    """One message to enqueue: which actor, for which id, after how long (ms)."""

    actor_name: str
    object_id: int
    delay_ms: int | None = None


def _marker(actor_name: str, object_id: int) -> str:
    kind = "plan" if actor_name.startswith("plan") else "delivery"
    return f"dispatcher:inflight:{kind}:{object_id}"


def delivery_marker(delivery_id: int) -> str:
    """Redis key marking ``delivery_id`` as queued or being handled."""
    return f"dispatcher:inflight:delivery:{delivery_id}"


def plan_marker(announcement_id: int) -> str:
    """Redis key marking an announcement's plan as queued or running."""
    return f"dispatcher:inflight:plan:{announcement_id}"


def enqueue(broker: RedisBroker, work: Sequence[QueuedWork]) -> None:
    """Enqueue each item, then mark it in flight. Call only after the rows are committed.

    The marker follows the message, never precedes it: a process that dies in between leaves
    a message without a marker, which the sweep re-enqueues (a harmless duplicate: the claim
    makes the second one a no-op), and never a marker without a message, which would hide
    lost work from the sweep.
    """
    if not work:
        return
    pipe = broker.client.pipeline(transaction=False)
    for item in work:
        actor = broker.get_actor(item.actor_name)
        broker.enqueue(actor.message(item.object_id), delay=item.delay_ms)
        ttl = MARKER_TTL_SECONDS + (item.delay_ms or 0) // 1000
        pipe.set(_marker(item.actor_name, item.object_id), 1, ex=ttl)
    pipe.execute()


def clear_marker(broker: RedisBroker, key: str) -> None:
    """Forget an in-flight marker once its work is done."""
    broker.client.delete(key)


def missing_markers(broker: RedisBroker, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` that Redis does not hold (work that is not in flight)."""
    key_list = list(keys)
    if not key_list:
        return set()
    pipe = broker.client.pipeline(transaction=False)
    for key in key_list:
        pipe.exists(key)
    return {key for key, found in zip(key_list, pipe.execute(), strict=True) if not found}


def current_broker() -> RedisBroker:
    """The broker set up for this process."""
    broker = dramatiq.get_broker()
    assert isinstance(broker, RedisBroker)
    return broker
