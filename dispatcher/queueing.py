"""Putting delivery and plan messages on the queue, and knowing which are in flight.

The queue only carries ids. Each message enqueued also gets an in-flight marker in Redis,
cleared when the message has been handled; the recovery sweep re-enqueues work whose row says
it should be queued but whose marker is gone (Redis restarted, flushed, or the enqueue never
happened because the process died after committing the row).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

MARKER_TTL_SECONDS = 24 * 3600
GENERATION_KEY = "dispatcher:generation"
#: Messages per Redis round trip when enqueueing.
PIPELINE_SIZE = 500


@dataclass(frozen=True)
class QueuedWork:
    """One message to enqueue: which actor, for which id, after how long (ms).

    A batch actor's message carries several ids (``batch``; ``object_id`` is the first);
    each id gets its own in-flight marker, so the sweep can replay any one of them.
    """

    actor_name: str
    object_id: int
    delay_ms: int | None = None
    batch: tuple[int, ...] = ()

    @classmethod
    def for_batch(
        cls, actor_name: str, ids: Sequence[int], delay_ms: int | None = None
    ) -> QueuedWork:
        """A message for a batch actor carrying ``ids`` (at least one)."""
        return cls(actor_name, ids[0], delay_ms, tuple(ids))

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Every id this message carries."""
        return self.batch or (self.object_id,)


PLAN_ACTOR = "plan_announcement"
MIS_EVENT_ACTOR = "process_mis_event"
#: The in-flight marker's kind per actor; every other actor delivers.
_MARKER_KINDS = {PLAN_ACTOR: "plan", MIS_EVENT_ACTOR: "mis"}


def _marker(actor_name: str, object_id: int) -> str:
    kind = _MARKER_KINDS.get(actor_name, "delivery")
    return f"dispatcher:inflight:{kind}:{object_id}"


def plan_work(announcement_id: int, send_at: datetime | None, now: datetime) -> QueuedWork:
    """The message that plans an announcement: at once, or delayed until its ``send_at``."""
    delay = None
    if send_at is not None:
        send_at = send_at if send_at.tzinfo is not None else send_at.replace(tzinfo=UTC)
        delay = max(0, int((send_at - now).total_seconds() * 1000)) or None
    return QueuedWork(PLAN_ACTOR, announcement_id, delay)


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


def enqueue(broker: RedisBroker, work: Sequence[QueuedWork]) -> None:
    """Enqueue each item, then mark it in flight. Call only after the rows are committed.

    Messages go to Redis in pipelines of ``PIPELINE_SIZE`` (one round trip each instead of
    one per message, which dominated large plans). Within a pipeline each message precedes
    its marker, and a marker carries the Redis generation read before the first message:
    work whose marker is missing or from another generation is re-enqueued by the sweep (a
    harmless duplicate at worst: the claim makes the second copy a no-op), so lost work is
    never hidden behind a marker.
    """
    if not work:
        return
    generation = current_generation(broker)
    for start in range(0, len(work), PIPELINE_SIZE):
        pipe = broker.client.pipeline(transaction=False)
        for item in work[start : start + PIPELINE_SIZE]:
            _pipeline_enqueue(broker, pipe, item)
            ttl = MARKER_TTL_SECONDS + (item.delay_ms or 0) // 1000
            for object_id in item.object_ids:
                pipe.set(_marker(item.actor_name, object_id), generation, ex=ttl)
        pipe.execute()


def _pipeline_enqueue(broker: RedisBroker, pipe: Any, item: QueuedWork) -> None:
    # What RedisBroker.enqueue does for one message (a fresh Redis id, the delay queue and
    # its eta, the middleware hooks), with the dispatch script sent through ``pipe``.
    # Depends on Dramatiq 2.x internals: tests/integration/test_delivery.py exercises it.
    argument: int | list[int] = list(item.batch) if item.batch else item.object_id
    message = broker.get_actor(item.actor_name).message(argument)
    message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
    queue_name = message.queue_name
    if item.delay_ms is not None:
        queue_name = dq_name(queue_name)
        message = message.copy(
            queue_name=queue_name, options={"eta": current_millis() + item.delay_ms}
        )
    broker.emit_before("enqueue", message, item.delay_ms)
    broker.scripts["dispatch"](
        keys=[broker.namespace],
        args=[
            "enqueue",
            current_millis(),
            queue_name,
            broker.broker_id,
            broker.heartbeat_timeout,
            broker.dead_message_ttl,
            0,  # no maintenance inside a batch
            broker._max_unpack_size(),  # type: ignore[no-untyped-call]
            message.options["redis_message_id"],
            message.encode(),
        ],
        client=pipe,
    )
    broker.emit_after("enqueue", message, item.delay_ms)


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
