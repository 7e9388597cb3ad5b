"""The InFlightMarkers middleware: a handled message's markers are cleared, except those of
ids its actor handed on and of a message that raised; a skipped message's are cleared so the
sweep can replay its work."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.inflight import delivery_marker, hand_on
from dispatcher.queue.work import QueuedWork
from tests.support.waiting import wait_until

QUEUE = "test-inflight"
HAND_ON = 2  # the id the test actor says it queued again


@pytest.fixture
def markers_broker(clean_redis: RedisBroker) -> Iterator[RedisBroker]:
    """The dispatcher's broker with three test actors on a queue of their own, and a worker
    for that queue."""

    def handled(ids: list[int]) -> None:
        hand_on(i for i in ids if i == HAND_ON)

    def broken(ids: list[int]) -> None:
        raise RuntimeError(f"a bug handling {ids}")

    def too_old(ids: list[int]) -> None:
        raise AssertionError("an expired message must be skipped, not processed")

    if "test_handled" not in clean_redis.actors:  # the broker lives for the whole session
        dramatiq.actor(actor_name="test_handled", queue_name=QUEUE, broker=clean_redis)(handled)
        dramatiq.actor(
            actor_name="test_broken", queue_name=QUEUE, broker=clean_redis, max_retries=0
        )(broken)
        dramatiq.actor(actor_name="test_too_old", queue_name=QUEUE, broker=clean_redis, max_age=1)(
            too_old
        )
    worker = dramatiq.Worker(clean_redis, queues={QUEUE}, worker_threads=1, worker_timeout=50)
    worker.start()
    yield clean_redis
    worker.stop()


def _run(broker: RedisBroker, work: QueuedWork) -> None:
    enqueue(broker, [work])
    for id_ in work.object_ids:  # enqueue marked every id in flight
        assert broker.client.get(delivery_marker(id_)) is not None
    broker.join(QUEUE, timeout=20_000)
    if work.delay_ms:
        broker.join(f"{QUEUE}.DQ", timeout=20_000)


def _marked(broker: RedisBroker, ids: list[int]) -> list[int]:
    return [i for i in ids if broker.client.get(delivery_marker(i)) is not None]


def test_a_handled_message_clears_its_markers_but_not_those_handed_on(
    markers_broker: RedisBroker,
) -> None:
    ids = [1, HAND_ON, 3]
    _run(markers_broker, QueuedWork.for_batch("test_handled", ids))
    # The middleware runs just after the actor returns.
    wait_until(lambda: _marked(markers_broker, ids) == [HAND_ON], 20, what="markers cleared")


def test_a_message_that_raised_keeps_its_markers(markers_broker: RedisBroker) -> None:
    ids = [7, 8]
    _run(markers_broker, QueuedWork.for_batch("test_broken", ids))
    # The failure is recorded on the message (dead-lettered: no retries for this actor).
    wait_until(
        lambda: markers_broker.client.hlen(f"dramatiq:{QUEUE}.XQ.msgs") == 1,
        20,
        what="the failed message dead-lettered",
    )
    assert _marked(markers_broker, ids) == ids


def test_a_skipped_message_clears_its_markers(markers_broker: RedisBroker) -> None:
    ids = [11]
    # Older than the actor's max_age by the time it leaves the delay queue: AgeLimit skips it.
    _run(markers_broker, QueuedWork.for_batch("test_too_old", ids, delay_ms=50))
    wait_until(lambda: _marked(markers_broker, ids) == [], 20, what="markers cleared")
