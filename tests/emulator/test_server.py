"""The HTTP server itself: concurrency, keep-alive, stop, odd requests and the counters."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from emulator import ProviderEmulator
from emulator.records import max_in_any_window
from tests.support.waiting import wait_until

from .conftest import make_twilio_client


def twilio_post(
    session: requests.Session, emulator: ProviderEmulator, to: str, body: str = "Hi"
) -> requests.Response:
    return session.post(
        f"{emulator.url}/2010-04-01/Accounts/{emulator.TWILIO_ACCOUNT_SID}/Messages.json",
        data={"To": to, "From": "BROCKMOOR", "Body": body},
        auth=(emulator.TWILIO_ACCOUNT_SID, emulator.TWILIO_AUTH_TOKEN),
        timeout=10,
    )


def test_200_concurrent_connections(emulator: ProviderEmulator) -> None:
    clients = 200
    barrier = threading.Barrier(clients)
    statuses: list[int] = []

    def one(n: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            statuses.append(twilio_post(session, emulator, f"+4477009{n:05d}").status_code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [201] * clients
    assert emulator.stats()["duplicates"]["twilio"] == 0
    assert 0 < emulator.max_requests_in_any_second("twilio") <= clients
    assert emulator.stats()["counts"]["twilio"] == clients


def test_keep_alive_connections_are_reused(emulator: ProviderEmulator) -> None:
    connection = http.client.HTTPConnection(emulator.url.removeprefix("http://"), timeout=5)
    path = f"/2010-04-01/Accounts/{emulator.TWILIO_ACCOUNT_SID}/Messages.json"
    credentials = f"{emulator.TWILIO_ACCOUNT_SID}:{emulator.TWILIO_AUTH_TOKEN}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    statuses = []
    sockets = []
    for n in range(3):
        body = f"To=%2B44770090000{n}&From=BROCKMOOR&Body=Hi"
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        sockets.append(connection.sock)
        assert response.getheader("Connection") != "close"
    connection.close()

    assert statuses == [201] * 3
    assert sockets[0] is not None and sockets[0] is sockets[1] is sockets[2]


def test_chunked_bodies_are_read(emulator: ProviderEmulator) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"To=%2B447700900123&"
        yield b"From=BROCKMOOR&Body=Hi"

    response = requests.post(
        f"{emulator.url}/2010-04-01/Accounts/{emulator.TWILIO_ACCOUNT_SID}/Messages.json",
        data=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(emulator.TWILIO_ACCOUNT_SID, emulator.TWILIO_AUTH_TOKEN),
        timeout=5,
    )

    assert response.status_code == 201
    assert response.json()["to"] == "+447700900123"


def test_unknown_paths_are_404_and_recorded(emulator: ProviderEmulator) -> None:
    response = requests.get(f"{emulator.url}/v2/elsewhere", timeout=5)

    assert response.status_code == 404
    assert [(r.provider, r.status) for r in emulator.requests] == [("unknown", 404)]


def test_stop_closes_open_connections_and_the_port() -> None:
    emulator = ProviderEmulator().start()
    session = requests.Session()
    assert twilio_post(session, emulator, "+447700900001").status_code == 201

    emulator.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        twilio_post(session, emulator, "+447700900002")
    with pytest.raises(requests.exceptions.ConnectionError):
        twilio_post(requests.Session(), emulator, "+447700900003")


def test_stop_ends_a_hanging_timeout_promptly() -> None:
    from emulator import FailureRule

    emulator = ProviderEmulator().start()
    emulator.add_failure(FailureRule("twilio", timeout=True, hang_seconds=30))
    client = make_twilio_client(emulator, timeout=10)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            client.messages.create(to="+447700900001", from_="BROCKMOOR", body="Hi")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    wait_until(lambda: emulator.requests, 10, 0.01, what="the request to reach the emulator")
    started = time.perf_counter()
    emulator.stop()
    thread.join(timeout=5)

    assert time.perf_counter() - started < 2
    assert not thread.is_alive()
    assert len(errors) == 1


def test_max_in_any_window_is_a_sliding_second() -> None:
    assert max_in_any_window([]) == 0
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_window([0.6, 0.9, 1.1, 1.4]) == 4
    assert max_in_any_window([0.0, 1.0, 2.0]) == 1


def test_max_requests_in_any_second_counts_by_provider(emulator: ProviderEmulator) -> None:
    client = make_twilio_client(emulator)
    for n in range(5):
        client.messages.create(to=f"+44770090000{n}", from_="BROCKMOOR", body="Hi")

    assert emulator.max_requests_in_any_second("twilio") == 5
    assert emulator.max_requests_in_any_second("sendgrid") == 0
    assert emulator.max_requests_in_any_second() == 5


def test_rate_limit_is_recorded_not_enforced() -> None:
    with ProviderEmulator(rate_limit_per_second=2) as emulator:
        session = requests.Session()
        statuses = [
            twilio_post(session, emulator, f"+44770090000{n}").status_code for n in range(5)
        ]

        assert statuses == [201] * 5
        assert emulator.stats()["rate_limit_per_second"] == 2
        assert emulator.max_requests_in_any_second("twilio") == 5


def test_constructor_overrides_the_credentials() -> None:
    sid = "AC" + "1" * 32
    with ProviderEmulator(
        twilio_account_sid=sid,
        twilio_auth_token="other-token",
        sendgrid_api_key="SG.other",
        fcm_project_id="other-project",
    ) as emulator:
        client = make_twilio_client(emulator)
        message = client.messages.create(to="+447700900001", from_="BROCKMOOR", body="Hi")

        assert sid == emulator.TWILIO_ACCOUNT_SID
        assert emulator.TWILIO_AUTH_TOKEN == "other-token"
        assert message.account_sid == sid
        assert emulator.fcm_service_account_info()["project_id"] == "other-project"
        assert emulator.SENDGRID_API_KEY == "SG.other"
    assert ProviderEmulator.TWILIO_ACCOUNT_SID == "AC" + "0" * 32
