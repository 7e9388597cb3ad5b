"""Where the test services are: the xdist worker's number and its Redis database."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit, urlunsplit


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def worker_number() -> int:
    """0 for the controller or gw0, 1 for gw1, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0)


def machine_redis_url(offset: int) -> str | None:
    """The Redis database ``offset`` databases above the run's base (``TEST_REDIS_URL``'s
    database, else 8) on ``TEST_REDIS_URL``'s server or the machine's, or None when neither
    is given nor answers."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        parts = urlsplit(given)
        base = int(parts.path.strip("/") or 0)
        return urlunsplit(parts._replace(path=f"/{base + offset}"))
    if answers("127.0.0.1", 6379):
        return f"redis://127.0.0.1:6379/{8 + offset}"
    return None
