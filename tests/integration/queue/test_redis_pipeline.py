"""``dispatcher.queue.redis_pipeline`` repeats ``RedisBroker.enqueue`` through a pipeline,
on Dramatiq's private internals: against the installed Dramatiq, a message queued our way is
stored exactly as Dramatiq's own ``enqueue`` stores it, at once and delayed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from dispatcher.domain import Urgency
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.inflight import delivery_marker
from dispatcher.queue.names import DELIVER_ACTOR, DELIVER_BATCH_ACTOR
from dispatcher.queue.work import QueuedWork

URGENT = DELIVER_ACTOR[Urgency.URGENT]
URGENT_BATCH = DELIVER_BATCH_ACTOR[Urgency.URGENT]

#: What differs between any two messages: their ids and when they were made (a delayed
#: message's eta, in its options, is compared within a margin).
VARYING = {"message_id", "message_timestamp"}


@pytest.fixture
def redis_broker(clean_redis: RedisBroker) -> Iterator[RedisBroker]:
    yield clean_redis
    clean_redis.client.flushdb()  # nothing left for a later test's workers


def stored(broker: RedisBroker, queue_name: str) -> dict[str, dict[str, Any]]:
    """The messages on ``queue_name``, by their Redis id, in queue order."""
    ids = [raw.decode() for raw in broker.client.lrange(f"{broker.namespace}:{queue_name}", 0, -1)]
    bodies = broker.client.hgetall(f"{broker.namespace}:{queue_name}.msgs")
    assert sorted(ids) == sorted(key.decode() for key in bodies), "queue and messages disagree"
    return {i: json.loads(bodies[i.encode()]) for i in ids}


def same_shape(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert {k: v for k, v in ours.items() if k not in VARYING | {"args", "options"}} == {
        k: v for k, v in theirs.items() if k not in VARYING | {"args", "options"}
    }
    assert set(ours["options"]) == set(theirs["options"])


@pytest.mark.parametrize("delay_ms", [None, 60_000], ids=["at-once", "delayed"])
def test_a_pipelined_message_is_stored_as_dramatiq_stores_one(
    redis_broker: RedisBroker, delay_ms: int | None
) -> None:
    broker = redis_broker
    actor = broker.get_actor(URGENT)
    queue_name = actor.queue_name if delay_ms is None else dq_name(actor.queue_name)

    enqueue(broker, [QueuedWork(URGENT, 41, delay_ms)])
    [(ours_id, ours)] = stored(broker, queue_name).items()
    broker.enqueue(actor.message(42), delay=delay_ms)
    messages = stored(broker, queue_name)
    first, second = messages  # ours first, Dramatiq's after it
    assert first == ours_id
    theirs = messages[second]

    assert (ours["actor_name"], ours["queue_name"], ours["args"]) == (
        URGENT,
        queue_name,
        [41],
    )
    assert ours["options"]["redis_message_id"] == ours_id
    same_shape(ours, theirs)
    if delay_ms is not None:
        assert abs(ours["options"]["eta"] - theirs["options"]["eta"]) < 5_000
    assert broker.client.get(delivery_marker(41)) is not None


def test_a_batch_message_carries_its_ids_and_marks_each(redis_broker: RedisBroker) -> None:
    broker = redis_broker
    work = [QueuedWork.for_batch(URGENT_BATCH, [7, 8, 9]), QueuedWork(URGENT, 10)]
    enqueue(broker, work)
    queue_name = broker.get_actor(URGENT_BATCH).queue_name
    messages = list(stored(broker, queue_name).values())
    assert [(m["actor_name"], m["args"]) for m in messages] == [
        (URGENT_BATCH, [[7, 8, 9]]),
        (URGENT, [10]),
    ]
    assert all(broker.client.get(delivery_marker(i)) is not None for i in (7, 8, 9, 10))
