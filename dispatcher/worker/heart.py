"""A worker process's heartbeat thread: it says the process lives, what it is doing, and
when the recovery work should run at once rather than at its interval.

Each second (more often with a short heartbeat timeout) it beats
(``dispatcher.queue.heartbeats``), with the status ``waiting for the database`` while the
database breaker is open (and probes the database then, so the breaker closes even when no
message is waiting); it notices a new Redis generation (a FLUSHALL or a
restart without persistence) and the breaker closing, and asks for a sweep at once.
"""

from __future__ import annotations

import logging
import threading

from dramatiq.brokers.redis import RedisBroker

from dispatcher.queue.inflight import current_generation
from dispatcher.runtime import Runtime

log = logging.getLogger("dispatcher.worker")

BEAT_SECONDS = 1.0
WAITING_FOR_DATABASE = "waiting for the database"


class Heart(threading.Thread):
    """Beats for ``runtime``'s worker every ``BEAT_SECONDS`` until ``stop()``."""

    def __init__(self, runtime: Runtime, broker: RedisBroker) -> None:
        super().__init__(name="dispatcher-heartbeat", daemon=True)
        self.runtime = runtime
        self.broker = broker
        #: Set when the sweep should run now (Redis lost its data, the database is back).
        self.sweep_now = threading.Event()
        self._stopped = threading.Event()
        self._generation: str | None = None
        #: Seconds between beats: several per heartbeat timeout, so that a beat late by a
        #: busy moment never looks like a gap.
        self.interval = min(BEAT_SECONDS, runtime.heartbeats.timeout / 5)
        runtime.database.on_close(self.sweep_now.set)

    def status(self) -> str:
        """What this worker says of itself in its heartbeat."""
        return WAITING_FOR_DATABASE if self.runtime.database.is_open else "working"

    def beat_once(self) -> None:
        """One beat: heartbeat, database probe while it is away, generation check."""
        runtime = self.runtime
        if runtime.database.is_open:
            runtime.database.check()
        runtime.heartbeats.beat(runtime.worker_id, self.status())
        try:
            generation = current_generation(self.broker)
        except Exception:
            return
        if self._generation is not None and generation != self._generation:
            log.warning("Redis lost its data (a restart or FLUSHALL): re-queueing lost work now")
            self.sweep_now.set()
        self._generation = generation

    def run(self) -> None:
        """Beat until stopped; a failed beat is tried again next second."""
        while not self._stopped.is_set():
            try:
                self.beat_once()
            except Exception:
                log.exception("heartbeat failed; retrying")
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        """Stop beating and take this worker off the list of the living (its claims, if
        any are left, are then settled by the others from the journal)."""
        self._stopped.set()
        self.join(5)
        self.runtime.heartbeats.leave(self.runtime.worker_id)
