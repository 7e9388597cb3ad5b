"""Stopping long-running commands on a signal (the worker, the clock, the emulator)."""

from __future__ import annotations

import os
import signal
import threading
import time

from dispatcher.stopping import SignalStop


def test_a_signal_during_a_wait_ends_it_at_once() -> None:
    stop = SignalStop()
    before = signal.getsignal(signal.SIGTERM)
    stop.install((signal.SIGTERM,))
    try:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
        started = time.monotonic()
        timer.start()
        assert stop.wait(30) is True  # it did not sleep the 30 s
        assert time.monotonic() - started < 5
        assert stop.is_set()
    finally:
        signal.signal(signal.SIGTERM, before)


def test_many_signals_while_waiting_never_hang_the_waiter() -> None:
    # The old stop (threading.Event.set in the handler) could deadlock when a signal came
    # while the main thread was inside Event.wait: here signals keep coming during waits.
    before = signal.getsignal(signal.SIGTERM)
    try:
        for _ in range(50):
            stop = SignalStop()
            stop.install((signal.SIGTERM,))
            timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGTERM))
            timer.start()
            assert stop.wait(10) is True
            timer.join()
    finally:
        signal.signal(signal.SIGTERM, before)


def test_without_a_signal_wait_returns_after_its_timeout_or_when_set() -> None:
    stop = SignalStop()
    started = time.monotonic()
    assert stop.wait(0.25) is False
    assert 0.2 <= time.monotonic() - started < 2
    threading.Timer(0.1, stop.set).start()
    assert stop.wait(30) is True
