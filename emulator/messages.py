"""The request and reply values that pass between the HTTP server and the provider APIs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """One HTTP request, read whole. ``headers`` keep the case they were sent in; ``size`` is
    the body's length as sent (a body too large to hold arrives empty, with its size).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: list[tuple[str, str]]
    body: bytes
    size: int
    at: float

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


@dataclass
class Reply:
    """What to answer. ``hang`` set: say nothing, wait that long and close the connection.
    ``dropped``: the request was accepted (``status`` is what would have been answered) but
    no answer is written: the connection closes after the usual latency (or after ``hang``).

    ``form`` and ``json`` are the parsed request body, kept for the record.
    """

    provider: str
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None
    form: dict[str, str] | None = None
    json: Any | None = None
    record: bool = True
    dropped: bool = False


def json_reply(
    provider: str, status: int, payload: Any, headers: dict[str, str] | None = None
) -> Reply:
    """A JSON reply (UTF-8, compact)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(provider, status, body, "application/json", dict(headers or {}))


def hang_reply(provider: str, seconds: float) -> Reply:
    """A reply that never comes: the connection is closed after ``seconds``."""
    return Reply(provider, 0, content_type=None, hang=seconds)


def drop_answer(reply: Reply, hang_seconds: float | None) -> Reply:
    """``reply`` (an accepted send) made into one that is never written: the connection is
    closed instead, after ``hang_seconds`` when given, else after the usual latency."""
    reply.dropped = True
    reply.hang = hang_seconds
    return reply
