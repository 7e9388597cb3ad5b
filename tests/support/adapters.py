"""Helpers for the channel-adapter tests: a fast retry policy and reading recorded requests."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from dispatcher.channels.retry import RetryPolicy
from emulator.records import RecordedRequest

#: Retries as in production, but with millisecond backoff so tests stay fast; Retry-After
#: still sets the floor of each wait.
FAST_RETRY = RetryPolicy(attempts=3, max_seconds=10.0, multiplier=0.01, max_backoff=0.05)


def gaps(times: list[float]) -> list[float]:
    """Seconds between consecutive times."""
    return [later - earlier for earlier, later in pairwise(times)]


def header(record: RecordedRequest, name: str) -> str | None:
    """A recorded request's header ``name``, in any case."""
    return next((v for k, v in record.headers.items() if k.lower() == name.lower()), None)


def json_body(record: RecordedRequest) -> dict[str, Any]:
    """The JSON object a recorded request carried (the test fails if it carried none)."""
    body = record.json
    assert isinstance(body, dict), f"{record.method} {record.path} carried no JSON object"
    return body
