"""A circuit breaker on the database: when it stops answering, a worker stops claiming work
at once, and resumes by itself when it answers again.

``trip`` opens the breaker (any thread that met a lost connection); while it is open, every
thread that wants the database waits in ``wait_until_closed``, one of them probing it with
``SELECT 1`` every ``probe_interval`` seconds; the first probe that succeeds closes it for
all, and runs the listeners (the worker replays its send journal then).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("dispatcher.database")

#: How often a worker waiting for the database asks whether it answers again.
PROBE_INTERVAL_SECONDS = 0.5


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (not that a statement was wrong,
    nor that SQLite is busy)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return "database is locked" not in str(exc)
    return False


class DatabaseBreaker:
    """The breaker of one process's database engine."""

    def __init__(
        self,
        probe: Callable[[], None],
        probe_interval: float = PROBE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._probe_interval = probe_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._closed.set()
        self._probing = False
        self._opened_at: float | None = None
        self._listeners: list[Callable[[], None]] = []
        #: How many times the breaker opened since the process started.
        self.trips = 0

    @classmethod
    def for_engine(cls, engine: Engine) -> DatabaseBreaker:
        """A breaker probing ``engine``."""

        def probe() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        return cls(probe)

    @property
    def is_open(self) -> bool:
        """Whether the database is believed unreachable (no new work is claimed)."""
        return not self._closed.is_set()

    def open_seconds(self) -> float:
        """How long the breaker has been open (0 when closed)."""
        opened = self._opened_at
        return 0.0 if opened is None or not self.is_open else self._clock() - opened

    def on_close(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (from the thread whose probe succeeded) each time it closes."""
        self._listeners.append(listener)

    def trip(self, exc: BaseException | None = None) -> None:
        """Open the breaker: the database did not answer (``exc`` says how)."""
        with self._lock:
            if not self._closed.is_set():
                return
            self._closed.clear()
            self._opened_at = self._clock()
            self.trips += 1
        log.error(
            "ALERT database unreachable (%s): this worker claims no new work until it answers",
            type(exc).__name__ if exc is not None else "probe failed",
        )

    def wait_until_closed(self, timeout: float | None = None) -> bool:
        """Block while the breaker is open, probing the database; True once it is closed,
        False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else self._clock() + timeout
        while not self._closed.is_set():
            if deadline is not None and self._clock() >= deadline:
                return False
            with self._lock:
                probe = not self._probing
                if probe:
                    self._probing = True
            if not probe:
                self._closed.wait(self._probe_interval)
                continue
            try:
                self._probe_once()
            finally:
                with self._lock:
                    self._probing = False
        return True

    def check(self) -> bool:
        """Probe the database once if the breaker is open; True when it is closed."""
        if self._closed.is_set():
            return True
        with self._lock:
            if self._probing:
                return False
            self._probing = True
        try:
            self._probe_once(wait=False)
        finally:
            with self._lock:
                self._probing = False
        return self._closed.is_set()

    def _probe_once(self, *, wait: bool = True) -> None:
        try:
            self._probe()
        except Exception:
            if wait:
                self._closed.wait(self._probe_interval)
            return
        opened = self._opened_at
        self._closed.set()
        log.warning(
            "database answers again after %.1f s: claiming work again",
            self._clock() - opened if opened is not None else 0.0,
        )
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("a listener of the database breaker failed")
