"""Worker heartbeats: which worker processes are alive, known rather than guessed.

Every worker process beats once a second (``dispatcher.worker.heartbeat``): its id goes into
a Redis sorted set scored by Redis's own clock (no process's clock matters), with what it
reports of itself (e.g. that it waits for the database). A worker is **dead** when its last
beat is older than the timeout, or when it has no beat at all although the Redis data
(its generation, ``dispatcher.queue.inflight``) is older than the timeout, so every living
worker has had time to beat since a FLUSHALL or restart.

The process judging must itself have beaten without a gap for at least the timeout: after
Redis was unreachable for everyone, every beat is old, and nobody is judged dead until the
living have beaten again.

The reminder clock beats too, into a set of its own (``dispatcher:clocks``), around every
tick, with its tick interval: a clock is running while its last beat is younger than two
ticks and a margin (``ClockStatus.running``). Nothing is settled by a clock's death; the
beats let ``dispatcher doctor`` say whether one runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger("dispatcher.heartbeats")

HEARTBEATS_KEY = "dispatcher:workers"
STATUS_KEY = "dispatcher:workers:status"
GENERATION_SINCE_KEY = "dispatcher:generation:since"
CLOCKS_KEY = "dispatcher:clocks"
CLOCK_INTERVALS_KEY = "dispatcher:clocks:interval"
#: A clock is still running this long after two missed ticks (a slow tick, a busy machine).
CLOCK_MARGIN_SECONDS = 30.0


def redis_seconds(client: redis.Redis[Any]) -> float:
    """Redis's clock, in seconds."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


@dataclass(frozen=True)
class WorkerStatus:
    """What a living worker last said of itself."""

    worker: str
    age_seconds: float
    status: str


@dataclass(frozen=True)
class ClockStatus:
    """A reminder clock's last beat: how old it is and the clock's tick interval."""

    clock: str
    age_seconds: float
    tick_seconds: float

    @property
    def running(self) -> bool:
        """The clock beat within two of its ticks and a margin."""
        return self.age_seconds <= 2 * self.tick_seconds + CLOCK_MARGIN_SECONDS


class Heartbeats:
    """The heartbeats in the Redis of ``client_factory``, judged with ``timeout`` seconds."""

    def __init__(
        self,
        client_factory: Callable[[], redis.Redis[Any]],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._client: redis.Redis[Any] | None = None
        self.timeout = timeout
        self._clock = clock
        #: When this process's current run of beats without a gap began (its clock).
        self._streak_since: float | None = None
        self._last_beat: float | None = None

    @property
    def client(self) -> redis.Redis[Any]:
        """The Redis client."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def beat(self, worker: str, status: str = "working") -> bool:
        """Record that ``worker`` lives (and its ``status``); False when Redis did not
        answer (the streak of beats is then broken)."""
        moment = self._clock()
        try:
            now = redis_seconds(self.client)
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(HEARTBEATS_KEY, {worker: now})
            pipe.hset(STATUS_KEY, worker, status)
            pipe.set(GENERATION_SINCE_KEY, now, nx=True)
            pipe.execute()
        except redis.RedisError:
            self._streak_since = None
            self._last_beat = None
            return False
        gap = self.timeout / 2
        if self._last_beat is None or moment - self._last_beat > gap:
            self._streak_since = moment
        self._last_beat = moment
        return True

    def leave(self, worker: str) -> None:
        """Forget ``worker``: it stopped cleanly (its claims are settled)."""
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(HEARTBEATS_KEY, worker)
            pipe.hdel(STATUS_KEY, worker)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not remove this worker's heartbeat (Redis unreachable)")

    def may_judge(self) -> bool:
        """Whether this process has beaten without a gap for the whole timeout (so that
        others have had the same chance), and may call a worker dead."""
        if self._streak_since is None or self._last_beat is None:
            return False
        moment = self._clock()
        return (
            moment - self._last_beat <= self.timeout / 2
            and moment - self._streak_since >= self.timeout
        )

    def dead(self, workers: Iterable[str]) -> set[str]:
        """Those of ``workers`` known to be dead. Empty unless ``may_judge()``."""
        names = sorted(set(workers))
        if not names or not self.may_judge():
            return set()
        now = redis_seconds(self.client)
        since_raw = self.client.get(GENERATION_SINCE_KEY)
        data_age = now - float(since_raw) if since_raw is not None else 0.0
        scores = self.client.zmscore(HEARTBEATS_KEY, names)  # type: ignore[no-untyped-call]
        found: set[str] = set()
        for name, score in zip(names, scores, strict=True):
            if score is None:
                if data_age >= self.timeout:
                    found.add(name)
            elif now - float(score) >= self.timeout:
                found.add(name)
        return found

    def living(self) -> list[WorkerStatus]:
        """Every worker that beat within the timeout, with its status."""
        now = redis_seconds(self.client)
        beats = self.client.zrangebyscore(
            HEARTBEATS_KEY, now - self.timeout, "+inf", withscores=True
        )
        statuses = self.client.hgetall(STATUS_KEY)
        living: list[WorkerStatus] = []
        for raw_name, score in beats:
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            status = statuses.get(raw_name if isinstance(raw_name, bytes) else name.encode())
            living.append(
                WorkerStatus(name, now - float(score), status.decode() if status else "unknown")
            )
        return living

    def forget_dead(self, workers: Iterable[str]) -> None:
        """Drop the heartbeats of dead ``workers`` once their claims are settled."""
        names = list(workers)
        if names:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(HEARTBEATS_KEY, *names)
            pipe.hdel(STATUS_KEY, *names)
            pipe.execute()

    # --- the reminder clock -------------------------------------------------------------

    def clock_beat(self, clock: str, tick_seconds: float) -> bool:
        """Record that the reminder clock ``clock`` runs, ticking every ``tick_seconds``;
        False when Redis did not answer."""
        try:
            now = redis_seconds(self.client)
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(CLOCKS_KEY, {clock: now})
            pipe.hset(CLOCK_INTERVALS_KEY, clock, str(tick_seconds))
            pipe.execute()
        except redis.RedisError:
            return False
        return True

    def clock_leave(self, clock: str) -> None:
        """Forget ``clock``: it stopped cleanly."""
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(CLOCKS_KEY, clock)
            pipe.hdel(CLOCK_INTERVALS_KEY, clock)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not remove the clock's heartbeat (Redis unreachable)")

    def clocks(self) -> list[ClockStatus]:
        """Every clock that has beaten and not left, newest beat first (running or not:
        see ``ClockStatus.running``)."""
        now = redis_seconds(self.client)
        beats = self.client.zrevrange(CLOCKS_KEY, 0, -1, withscores=True)
        intervals = self.client.hgetall(CLOCK_INTERVALS_KEY)
        found: list[ClockStatus] = []
        for raw_name, score in beats:
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            interval = intervals.get(raw_name if isinstance(raw_name, bytes) else name.encode())
            tick = float(interval) if interval else 30.0
            found.append(ClockStatus(name, max(now - float(score), 0.0), tick))
        return found
