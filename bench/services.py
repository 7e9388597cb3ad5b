"""Throwaway PostgreSQL and Redis servers for the fault benchmark: started on free ports in
a directory of the bench's own, so a bench can stop, kill and restart them.

PostgreSQL comes from the newest ``/usr/lib/postgresql/<version>/bin`` (``initdb``,
``pg_ctl``), trust authentication, ``fsync=off``; as root it runs as the ``postgres`` user
(``initdb`` refuses root). Redis is ``redis-server --save '' --appendonly no``: nothing on
disk, so a killed and restarted Redis comes back empty.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

POSTGRES_ROOT = Path("/usr/lib/postgresql")
DATABASE = "dispatcher"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The ``bin`` directory of the newest PostgreSQL installed under /usr/lib/postgresql."""
    versions = sorted(
        (p for p in POSTGRES_ROOT.glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise SystemExit(f"no PostgreSQL under {POSTGRES_ROOT} (initdb, pg_ctl needed)")
    return versions[-1]


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _hand_to_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
            os.chown(name, user.pw_uid, user.pw_gid)


class Postgres:
    """One PostgreSQL cluster in ``data_dir``, listening on 127.0.0.1:``port``."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.bin = postgres_bin()
        #: The server's log and Unix socket, in a directory the server's user owns.
        self.run_dir = data_dir.parent / f"{data_dir.name}-run"
        self.log = self.run_dir / "postgres.log"

    @property
    def server_url(self) -> str:
        """The server's SQLAlchemy URL without a database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the bench's database on this server."""
        return f"{self.server_url}/{DATABASE}"

    def version(self) -> str:
        """``postgres --version``, e.g. ``postgres (PostgreSQL) 15.8``."""
        return subprocess.run(
            [str(self.bin / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def initdb(self) -> None:
        """Create an empty cluster (trust authentication, user ``postgres``)."""
        self.data_dir.mkdir(parents=True)
        _hand_to_postgres(self.data_dir)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )

    def copy_to(self, data_dir: Path, port: int) -> Postgres:
        """A new cluster that starts as a copy of this (stopped) one."""
        shutil.copytree(self.data_dir, data_dir, symlinks=True)
        _hand_to_postgres(data_dir)
        return Postgres(data_dir, port)

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        if not self.run_dir.exists():
            self.run_dir.mkdir(parents=True)
            _hand_to_postgres(self.run_dir)
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.run_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and disconnect every session)."""
        self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            check=False,
        )

    def _run(self, command: list[str], check: bool = True) -> None:
        result = subprocess.run(
            _as_postgres(command), capture_output=True, text=True, check=False, timeout=120
        )
        if check and result.returncode != 0:
            raise SystemExit(
                f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stderr[-2000:]}"
            )


class RedisServer:
    """A ``redis-server`` of the bench's own on 127.0.0.1:``port``, nothing kept on disk."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        import redis

        with (self.workdir / f"redis-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (what it held is gone: nothing is on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL if it does not go)."""
        process = self.process
        if process is None or process.poll() is not None:
            self.process = None
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        self.process = None
