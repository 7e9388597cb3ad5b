"""The HTTP layer: a threading HTTP/1.1 server that reads each request whole, asks the
emulator for a ``Reply`` and writes it (or, for a timeout or drop-answer rule, says nothing
and closes).

Built on ``socketserver.ThreadingTCPServer`` (one daemon thread per connection, a deep
accept queue) with a small HTTP/1.1 reader instead of ``http.server``: the SDKs send plain,
well-formed requests, and ``http.server``'s header parsing cost about five times the CPU per
request, which on a two-core machine comes straight out of the benchmark's clients.
Keep-alive is supported (every answer has a Content-Length) so the SDKs' connection pools
reuse connections; ``Expect: 100-continue`` and chunked bodies are understood. ``stop`` also
shuts the connections still open, so no answer is written after the emulator has stopped.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from emulator.messages import Incoming, Reply

logger = logging.getLogger("emulator")

#: Bodies larger than this are read and thrown away in chunks, never held whole.
MAX_HELD_BODY = 64 * 1024 * 1024
MAX_LINE = 65536
MAX_HEADERS = 200
_CHUNK = 1024 * 1024
SERVER_NAME = "ProviderEmulator/1.0"


class BadRequest(Exception):
    """The bytes received are not an HTTP/1.x request this server can read."""


class EmulatorHTTPServer(socketserver.ThreadingTCPServer):
    """A threading TCP server speaking just enough HTTP/1.1, with a register of connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        answer: Callable[[Incoming], Reply],
        record: Callable[[Incoming, Reply], None],
        latency: Callable[[], float],
    ) -> None:
        self.answer = answer
        self.record = record
        self.latency = latency
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection (so ``close_connections`` can end it)."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection that has closed."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every connection still open."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        try:
            while not self.server.stopping.is_set():
                if not self._one_request():
                    return
        except BadRequest:
            with contextlib.suppress(OSError):
                self._send(Reply("unknown", 400, b'{"error":"bad request"}'), keep_alive=False)
        except OSError:
            return

    def _one_request(self) -> bool:
        """Serve one request; False when the connection should close."""
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        if line in (b"\r\n", b"\n"):
            return True
        at = time.time()
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest
        method, target, version = parts
        headers = self._read_headers()
        lowered = {name.lower(): value for name, value in headers}
        connection = lowered.get("connection", "").lower()
        keep_alive = (
            "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        )
        if lowered.get("expect", "").lower() == "100-continue":
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body, size = self._read_body(lowered)
        split = urlsplit(target)
        req = Incoming(
            method=method.upper(),
            path=split.path,
            query=dict(parse_qsl(split.query)),
            headers=headers,
            body=body,
            size=size,
            at=at,
        )
        try:
            reply = self.server.answer(req)
        except Exception:
            logger.exception("emulator: answering a %s request failed", req.method)
            reply = Reply("unknown", 500, b'{"error":"emulator failure"}')
        if reply.record:
            self.server.record(req, reply)
        if reply.hang is not None:
            self.server.stopping.wait(reply.hang)
            return False
        if reply.record:
            delay = self.server.latency()
            if delay > 0:
                self.server.stopping.wait(delay)
        if self.server.stopping.is_set() or reply.dropped:
            return False
        self._send(reply, keep_alive)
        logger.debug("emulator answered %s %s", reply.provider, reply.status)
        return keep_alive

    def _read_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        while True:
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                return headers
            if len(raw) > MAX_LINE or len(headers) >= MAX_HEADERS:
                raise BadRequest
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise BadRequest
            headers.append((name.strip(), value.strip()))

    def _read_body(self, headers: dict[str, str]) -> tuple[bytes, int]:
        """The body and its size; a body over ``MAX_HELD_BODY`` is drained and not kept."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
            return body, len(body)
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError as exc:
            raise BadRequest from exc
        if length <= MAX_HELD_BODY:
            return self.rfile.read(length), length
        remaining = length
        while remaining > 0:
            got = self.rfile.read(min(_CHUNK, remaining))
            if not got:
                break
            remaining -= len(got)
        return b"", length

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            try:
                size = int(self.rfile.readline(MAX_LINE).split(b";")[0].strip() or b"0", 16)
            except ValueError as exc:
                raise BadRequest from exc
            if size == 0:
                while self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(MAX_LINE)

    def _send(self, reply: Reply, keep_alive: bool) -> None:
        lines = [
            f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            f"Server: {SERVER_NAME}",
            f"Date: {_http_date()}",
        ]
        if reply.content_type is not None:
            lines.append(f"Content-Type: {reply.content_type}")
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        lines.append(f"Content-Length: {len(reply.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.connection.sendall(head + reply.body)
