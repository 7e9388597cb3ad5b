"""Stopping a long-running command on SIGTERM or Ctrl-C, safely.

``threading.Event.set()`` must not be called from a signal handler: the handler runs in the
main thread, possibly while that thread is inside ``Event.wait()`` holding the event's lock,
and ``set()`` then waits for that lock forever (a worker that ignored SIGTERM until it was
killed). ``SignalStop`` keeps a plain flag that a handler can set, and waits by sleeping in
short steps, which signals interrupt.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Final, Protocol

#: How often a waiting ``SignalStop`` looks at its flag.
POLL_SECONDS: Final = 0.1


class Stoppable(Protocol):
    """What a loop needs of its stop signal (``threading.Event`` also has it)."""

    def is_set(self) -> bool:
        """True once stopping was asked for."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Return once stopping is asked for or ``timeout`` seconds have passed; True if
        stopping was asked for."""
        ...


class SignalStop:
    """A stop flag set by SIGTERM and SIGINT (once ``install`` is called) or by ``set``."""

    def __init__(self) -> None:
        self._requested = False

    def install(
        self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """Set this flag when the process receives one of ``signals`` (main thread only)."""

        def handler(_signum: int, _frame: FrameType | None) -> None:
            self._requested = True

        if threading.current_thread() is threading.main_thread():
            for number in signals:
                signal.signal(number, handler)

    def set(self) -> None:
        """Ask for stopping (from any thread, or a signal handler)."""
        self._requested = True

    def is_set(self) -> bool:
        """True once stopping was asked for."""
        return self._requested

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until stopping is asked for or ``timeout`` seconds have passed (None: no
        limit); True if stopping was asked for. Takes no lock a signal handler could need."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._requested:
            left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(POLL_SECONDS, left))
        return self._requested
