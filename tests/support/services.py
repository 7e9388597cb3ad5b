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


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StoppablePostgres:
    """A PostgreSQL cluster of the test's own, on a free port, that the test may stop (the
    machine's server is shared and must stay up). Built with ``initdb`` and ``pg_ctl`` from
    ``/usr/lib/postgresql/*/bin``; run as the ``postgres`` user when the tests run as root
    (PostgreSQL refuses to run as root). ``url`` is the server's SQLAlchemy URL without a
    database."""

    def __init__(self) -> None:
        import glob
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        self._bin = os.path.dirname(found[-1])
        self._home = tempfile.mkdtemp(prefix="stoppable-pg-")
        self._data = os.path.join(self._home, "data")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self.running = False

    def _run(self, *command: str) -> None:
        import subprocess

        prefix: tuple[str, ...] = ()
        if os.geteuid() == 0:
            import shutil

            shutil.chown(self._home, user="postgres")
            prefix = ("runuser", "-u", "postgres", "--")
        subprocess.run(
            (*prefix, os.path.join(self._bin, command[0]), *command[1:]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Create the cluster on first use, and start it (waiting until it accepts)."""
        if not os.path.isdir(self._data):
            self._run("initdb", "-D", self._data, "-A", "trust", "-U", "postgres", "-N")
        options = f"-p {self.port} -k {self._home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", self._data, "-o", options, "-w", "-l", self._data + ".log", "start"
        )
        self.running = True

    def stop(self) -> None:
        """Stop the server at once (as a crash or a failover would), if it runs."""
        if self.running:
            self._run("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop")
            self.running = False

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        import shutil

        self.stop()
        shutil.rmtree(self._home, ignore_errors=True)
