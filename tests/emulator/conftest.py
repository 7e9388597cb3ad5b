"""Fixtures: one provider emulator per test session (reset before each test) and the real
SDKs pointed at it: ``twilio.rest.Client``, ``sendgrid.SendGridAPIClient`` and a
google-auth ``AuthorizedSession`` for FCM.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sendgrid
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator import ProviderEmulator
from emulator.google_auth import LoopbackOnlyRequest

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@pytest.fixture(scope="session")
def _session_emulator() -> Iterator[ProviderEmulator]:
    with ProviderEmulator(seed=7) as emulator:
        yield emulator


@pytest.fixture
def emulator(
    _session_emulator: ProviderEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ProviderEmulator]:
    """The session's emulator with no requests, rules or latency left by earlier tests."""
    # Edge/region settings would rewrite the emulator's host name inside the Twilio SDK.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    _session_emulator.reset()
    _session_emulator.latency = 0.0
    yield _session_emulator
    _session_emulator.reset()
    _session_emulator.latency = 0.0


def make_twilio_client(emulator: ProviderEmulator, timeout: float | None = None) -> Client:
    """A Twilio client whose API domain is the emulator: the SDK builds every Messages URL
    from ``client.api.base_url``.
    """
    client = Client(
        emulator.TWILIO_ACCOUNT_SID,
        emulator.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=timeout),
    )
    client.api.base_url = emulator.url
    return client


@pytest.fixture
def twilio_client(emulator: ProviderEmulator) -> Client:
    return make_twilio_client(emulator)


@pytest.fixture
def sendgrid_client(emulator: ProviderEmulator) -> sendgrid.SendGridAPIClient:
    return sendgrid.SendGridAPIClient(emulator.SENDGRID_API_KEY, host=emulator.url)


def credentials_from(
    info: dict[str, str], scopes: list[str] | None = None
) -> service_account.Credentials:
    """Service-account credentials, exactly as the FCM adapter builds them."""
    # google-auth leaves from_service_account_info (and AuthorizedSession below) unannotated
    credentials: service_account.Credentials = (
        service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes
        )
    )
    return credentials


def authorized_session(
    credentials: service_account.Credentials, guard: LoopbackOnlyRequest | None = None
) -> AuthorizedSession:
    """An ``AuthorizedSession`` whose token requests (and google-auth's side lookups) go
    through ``LoopbackOnlyRequest``, so nothing leaves the machine.
    """
    return AuthorizedSession(  # type: ignore[no-untyped-call]
        credentials, auth_request=guard or LoopbackOnlyRequest()
    )


@pytest.fixture
def fcm_session(emulator: ProviderEmulator) -> AuthorizedSession:
    """An authorized session with the emulator's service account; tokens come from the
    emulator's ``/token``.
    """
    return authorized_session(
        credentials_from(emulator.fcm_service_account_info(), scopes=[FCM_SCOPE])
    )


@pytest.fixture
def fcm_url(emulator: ProviderEmulator) -> str:
    return f"{emulator.url}/v1/projects/{emulator.FCM_PROJECT_ID}/messages:send"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny local HTTP server standing in for the application's webhook endpoints.

    It answers ``status``, except that the first requests take their answers from
    ``answers`` (one each, in order) while it holds any; each answer waits ``delay`` s.
    """

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        """The status to answer the request just received."""
        with self.lock:
            return self.answers.pop(0) if self.answers else self.status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
            status = state.next_status()
            if state.delay:
                time.sleep(state.delay)
            payload = json.dumps({"ok": True}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
