"""Putting work on the queue, many messages per Redis round trip, each with its in-flight
marker. Called only after the rows the work is about are committed."""

from __future__ import annotations

from collections.abc import Sequence

from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.inflight import MARKER_TTL_SECONDS, _marker, current_generation
from dispatcher.queue.redis_pipeline import pipeline_enqueue
from dispatcher.queue.work import QueuedWork

#: Messages per Redis round trip when enqueueing.
PIPELINE_SIZE = 500


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
            pipeline_enqueue(broker, pipe, item)
            ttl = MARKER_TTL_SECONDS + (item.delay_ms or 0) // 1000
            for object_id in item.object_ids:
                pipe.set(_marker(item.actor_name, object_id), generation, ex=ttl)
        pipe.execute()
