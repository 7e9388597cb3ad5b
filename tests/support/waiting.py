"""Waiting for something that happens in another thread or process: poll, never sleep blind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    *,
    what: str,
    explain: Callable[[], object] | None = None,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that. After ``timeout`` seconds fail with an ``AssertionError`` naming ``what`` was
    awaited, the predicate's last value and, when given, ``explain()`` (the state to debug)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})"
            if explain is not None:
                message += f"\n{explain()}"
            raise AssertionError(message)
        time.sleep(interval)
