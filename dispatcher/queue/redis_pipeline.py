"""The one place that reaches into Dramatiq's internals: enqueueing a message through a Redis
pipeline, as ``RedisBroker.enqueue`` does one message at a time.

A plan queues thousands of messages; one round trip each dominated large plans. Dramatiq has
no public batch enqueue, so this repeats what ``RedisBroker.enqueue`` does (a fresh Redis id,
the delay queue and its eta, the middleware hooks) with its dispatch script sent through a
pipeline. It depends on Dramatiq 2.x internals (``broker.scripts["dispatch"]``,
``_max_unpack_size()``): the Dramatiq version is pinned to its minor release in
pyproject.toml, and ``tests/integration/queue/test_redis_pipeline.py`` checks this module
against the installed Dramatiq.
"""

from __future__ import annotations

import uuid
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

from dispatcher.queue.work import QueuedWork


def pipeline_enqueue(broker: RedisBroker, pipe: Any, item: QueuedWork) -> None:
    """Add to ``pipe`` what ``broker.enqueue`` would send Redis for ``item``'s message (a
    fresh Redis id, the delay queue and its eta), emitting the same middleware hooks; the
    message is in Redis once ``pipe`` is executed."""
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
