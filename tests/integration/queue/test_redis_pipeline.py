"""Contract test of dispatcher/queue/redis_pipeline.py against the installed Dramatiq: a
message enqueued through our pipeline leaves Redis exactly as ``RedisBroker.enqueue`` leaves
it (the same keys, of the same types, holding a message with the same actor, queue,
arguments and options), now and delayed, and a worker runs it. A Dramatiq upgrade that
changes the broker's internals fails here rather than losing messages in production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.redis_pipeline import pipeline_enqueue
from dispatcher.queue.work import QueuedWork

QUEUE = "test-pipeline"
ACTOR = "test_pipeline_actor"
received: list[Any] = []


@pytest.fixture
def pipeline_broker(clean_redis: RedisBroker) -> Iterator[RedisBroker]:
    """The dispatcher's broker with a test actor recording its arguments; Redis emptied."""
    if ACTOR not in clean_redis.actors:  # the broker lives for the whole session

        def record(argument: Any) -> None:
            received.append(argument)

        dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, broker=clean_redis)(record)
    received.clear()
    yield clean_redis


def _redis_state(broker: RedisBroker) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Every dramatiq key: its type and the messages it holds (ids and times left out)."""
    client = broker.client
    state: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for raw_key in sorted(client.keys("dramatiq:*")):
        key = raw_key.decode()
        kind = client.type(raw_key).decode()
        messages: list[dict[str, Any]] = []
        if kind == "hash":
            for encoded in client.hvals(raw_key):
                message = dramatiq.Message.decode(encoded).asdict()
                options = dict(message["options"])
                options.pop("redis_message_id")
                options["eta"] = "set" if "eta" in options else None
                messages.append(
                    {
                        "queue_name": message["queue_name"],
                        "actor_name": message["actor_name"],
                        "args": message["args"],
                        "kwargs": message["kwargs"],
                        "options": options,
                    }
                )
        elif kind == "list":
            assert client.llen(raw_key) == 1, key
        state[key] = (kind, messages)
    return state


def _enqueued_by_dramatiq(broker: RedisBroker, argument: Any, delay: int | None) -> Any:
    broker.client.flushdb()
    broker.enqueue(broker.get_actor(ACTOR).message(argument), delay=delay)
    return _redis_state(broker)


def _enqueued_by_pipeline(broker: RedisBroker, item: QueuedWork) -> Any:
    broker.client.flushdb()
    pipe = broker.client.pipeline(transaction=False)
    pipeline_enqueue(broker, pipe, item)
    pipe.execute()
    return _redis_state(broker)


@pytest.mark.parametrize("delay", [None, 60_000])
def test_a_pipelined_message_is_stored_as_dramatiq_stores_it(
    pipeline_broker: RedisBroker, delay: int | None
) -> None:
    ours = _enqueued_by_pipeline(pipeline_broker, QueuedWork(ACTOR, 42, delay))
    theirs = _enqueued_by_dramatiq(pipeline_broker, 42, delay)
    assert ours, "the pipeline stored nothing"
    assert ours == theirs
    batch = _enqueued_by_pipeline(pipeline_broker, QueuedWork.for_batch(ACTOR, [5, 6], delay))
    assert batch == _enqueued_by_dramatiq(pipeline_broker, [5, 6], delay)


def test_a_worker_runs_pipelined_messages(pipeline_broker: RedisBroker) -> None:
    pipe = pipeline_broker.client.pipeline(transaction=False)
    pipeline_enqueue(pipeline_broker, pipe, QueuedWork(ACTOR, 7))
    pipeline_enqueue(pipeline_broker, pipe, QueuedWork.for_batch(ACTOR, [8, 9]))
    pipeline_enqueue(pipeline_broker, pipe, QueuedWork(ACTOR, 10, delay_ms=100))
    pipe.execute()
    worker = dramatiq.Worker(pipeline_broker, queues={QUEUE}, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        pipeline_broker.join(QUEUE, timeout=20_000)
        pipeline_broker.join(f"{QUEUE}.DQ", timeout=20_000)
        worker.join()
    finally:
        worker.stop()
    assert sorted(received, key=str) == sorted([7, [8, 9], 10], key=str)
