"""Automatic status callbacks: the emulator calls back by itself as Twilio and SendGrid do,
signed (checked with the SDKs' validators and the application's own checks), from
background threads, retried when the receiver fails.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import sendgrid
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dispatcher.channels import sendgrid_webhooks, twilio_webhooks
from emulator import AutoCallbacks, ProviderEmulator
from tests.support.waiting import wait_until

from .conftest import Received, Receiver
from .test_sendgrid import mail

MOBILE = "+447700900123"
UNREACHABLE = "+447700900999"

#: Short timings, so a test takes a fraction of a second.
FAST = AutoCallbacks(
    twilio_sent_after=0.05,
    delivered_after=0.2,
    sendgrid_batch_seconds=0.1,
    retry_interval=0.1,
    retry_backoff=1.0,
    retry_for=5.0,
)


@pytest.fixture
def calling_back(emulator: ProviderEmulator) -> Iterator[ProviderEmulator]:
    """The session's emulator with automatic callbacks on (FAST), off again afterwards."""
    emulator.enable_callbacks(FAST)
    yield emulator
    emulator.disable_callbacks()


def form_of(received: Received) -> dict[str, str]:
    return dict(parse_qsl(received.body.decode()))


def text(client: Client, callback_url: str | None, to: str = MOBILE) -> str:
    return str(
        client.messages.create(
            to=to, from_="BROCKMOOR", body="School closed today", status_callback=callback_url
        ).sid
    )


def test_twilio_messages_get_sent_then_delivered_signed_callbacks(
    calling_back: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    callback_url = f"{receiver.url}/webhooks/twilio/status?delivery_id=42"
    sid = text(twilio_client, callback_url)
    text(twilio_client, None)  # no StatusCallback: nothing to call

    assert calling_back.wait_for_callbacks(10)

    assert [form_of(r)["MessageStatus"] for r in receiver.received] == ["sent", "delivered"]
    validator = RequestValidator(calling_back.TWILIO_AUTH_TOKEN)
    for received in receiver.received:
        params = form_of(received)
        signature = received.headers["X-Twilio-Signature"]
        assert received.path == "/webhooks/twilio/status?delivery_id=42"
        assert validator.validate(callback_url, params, signature)
        assert twilio_webhooks.signature_valid(
            calling_back.TWILIO_AUTH_TOKEN, callback_url, params, signature
        )
        assert (params["MessageSid"], params["To"], params["From"]) == (sid, MOBILE, "BROCKMOOR")
        assert "ErrorCode" not in params
    assert twilio_client.messages(sid).fetch().status == "delivered"
    attempts = calling_back.callback_attempts("twilio")
    assert [(a.events, a.delivery_ids, a.status) for a in attempts] == [
        (("sent",), ("42",), 200),
        (("delivered",), ("42",), 200),
    ]


def test_a_failed_recipient_gets_undelivered_with_its_error_code(
    emulator: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    emulator.enable_callbacks(
        AutoCallbacks(
            twilio_sent_after=0.0, delivered_after=0.05, failed_recipients={UNREACHABLE: "30003"}
        )
    )
    try:
        text(twilio_client, f"{receiver.url}/s?delivery_id=1", to=UNREACHABLE)
        assert emulator.wait_for_callbacks(10)
    finally:
        emulator.disable_callbacks()

    last = form_of(receiver.received[-1])
    assert (last["MessageStatus"], last["ErrorCode"]) == ("undelivered", "30003")


def test_the_api_answers_without_waiting_for_the_callbacks(
    calling_back: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    receiver.delay = 1.0  # a slow application

    started = time.perf_counter()
    for n in range(3):
        text(twilio_client, f"{receiver.url}/s?delivery_id={n}")
    answered_in = time.perf_counter() - started

    assert answered_in < 0.8
    wait_until(lambda: len(receiver.received) == 6, 15, what="six callbacks")


def test_sendgrid_events_arrive_in_signed_batches(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient, receiver: Receiver
) -> None:
    events_url = f"{receiver.url}/webhooks/sendgrid/events"
    emulator.enable_callbacks(
        AutoCallbacks(
            sendgrid_url=events_url,
            delivered_after=0.3,
            sendgrid_batch_size=3,
            sendgrid_batch_seconds=0.1,
            failed_recipients={"b@example.com": "550 5.1.1 The email account does not exist"},
        )
    )
    try:
        sendgrid_client.send(mail("a@example.com", "b@example.com"))
        sendgrid_client.send(mail("c@example.com", "d@example.com"))
        assert emulator.wait_for_callbacks(10)
    finally:
        emulator.disable_callbacks()

    webhook = EventWebhook(emulator.sendgrid_webhook_public_key)
    events = []
    for received in receiver.received:
        payload = received.body.decode()
        signature = received.headers[EventWebhookHeader.SIGNATURE]
        timestamp = received.headers[EventWebhookHeader.TIMESTAMP]
        assert received.path == "/webhooks/sendgrid/events"
        assert webhook.verify_signature(payload, signature, timestamp)
        assert sendgrid_webhooks.signature_valid(
            emulator.sendgrid_webhook_public_key, payload, signature, timestamp
        )
        batch = json.loads(payload)
        assert 1 <= len(batch) <= 3
        events.extend(batch)
    processed = sorted((e["email"], e["delivery_id"]) for e in events if e["event"] == "processed")
    delivered = sorted(e["email"] for e in events if e["event"] == "delivered")
    [bounce] = [e for e in events if e["event"] == "bounce"]
    assert processed == [
        ("a@example.com", "1"),
        ("b@example.com", "2"),
        ("c@example.com", "1"),
        ("d@example.com", "2"),
    ]
    assert delivered == ["a@example.com", "c@example.com", "d@example.com"]
    assert (bounce["email"], bounce["status"], bounce["type"]) == (
        "b@example.com",
        "5.1.1",
        "bounce",
    )
    assert len(receiver.received) >= 3  # 8 events, at most 3 a batch


def test_a_callback_answered_503_is_delivered_later(
    calling_back: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    receiver.answers = [503, 503]
    callback_url = f"{receiver.url}/s?delivery_id=9"
    sid = text(twilio_client, callback_url)

    assert calling_back.wait_for_callbacks(10)

    sent = [a for a in calling_back.callback_attempts("twilio") if a.events == ("sent",)]
    assert [(a.attempt, a.status, a.final) for a in sent] == [
        (1, 503, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert len({a.callback for a in sent}) == 1
    assert sent[1].at - sent[0].at >= 0.09
    tries = [r for r in receiver.received if form_of(r)["MessageStatus"] == "sent"]
    assert len(tries) == 3
    # The same request each time: body, signature and idempotency token.
    assert len({(r.body, r.headers["X-Twilio-Signature"]) for r in tries}) == 1
    assert len({r.headers["I-Twilio-Idempotency-Token"] for r in tries}) == 1
    assert RequestValidator(calling_back.TWILIO_AUTH_TOKEN).validate(
        callback_url, form_of(tries[-1]), tries[-1].headers["X-Twilio-Signature"]
    )
    assert twilio_client.messages(sid).fetch().status == "delivered"


def test_a_4xx_answer_is_final(
    calling_back: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    receiver.status = 401
    text(twilio_client, f"{receiver.url}/s?delivery_id=3")

    assert calling_back.wait_for_callbacks(10)

    assert [(a.attempt, a.status, a.final) for a in calling_back.callback_attempts()] == [
        (1, 401, True),
        (1, 401, True),
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_receiver_is_retried_until_the_limit(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    emulator.enable_callbacks(
        AutoCallbacks(
            sendgrid_url=f"http://127.0.0.1:{free_port()}/events",
            delivered_after=10.0,  # only the processed event within the test
            sendgrid_batch_seconds=0.0,
            retry_interval=0.1,
            retry_backoff=2.0,
            retry_max_interval=0.2,
            retry_for=0.9,
        )
    )
    try:
        sendgrid_client.send(mail("a@example.com"))
        wait_until(
            lambda: any(a.final for a in emulator.callback_attempts()),
            10,
            what="the callback to be given up",
        )
        attempts = emulator.callback_attempts("sendgrid")
    finally:
        emulator.disable_callbacks()

    assert all(a.status == 0 and a.error for a in attempts)
    assert [a.attempt for a in attempts] == list(range(1, len(attempts) + 1))
    assert 4 <= len(attempts) <= 7  # after 0.1, 0.2, 0.2, 0.2... s, for 0.9 s
    assert attempts[-1].final and not any(a.final for a in attempts[:-1])
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] < gaps[1]  # backoff


def test_callbacks_over_the_control_api(
    emulator: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    control = f"{emulator.url}/_emulator/callbacks"

    turned_on = requests.post(
        control, json={"twilio_sent_after": 0, "delivered_after": 0}, timeout=5
    )
    text(twilio_client, f"{receiver.url}/s?delivery_id=5")
    assert emulator.wait_for_callbacks(10)
    listed = requests.get(control, timeout=5).json()
    turned_off = requests.delete(control, timeout=5)
    text(twilio_client, f"{receiver.url}/s?delivery_id=6")
    bad = requests.post(control, json={"colour": "red"}, timeout=5)

    assert turned_on.status_code == 201
    assert turned_on.json()["delivered_after"] == 0
    assert listed["settings"]["twilio"] is True and listed["pending"] == 0
    assert sorted(a["events"][0] for a in listed["attempts"]) == ["delivered", "sent"]
    assert turned_off.status_code == 200 and emulator.callback_settings is None
    assert requests.get(control, timeout=5).json()["settings"] is None
    assert bad.status_code == 400 and "colour" in bad.json()["error"]
    assert len(receiver.received) == 2  # nothing for the message sent after DELETE


def test_the_command_line_turns_callbacks_on(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--service-account-file",
            str(tmp_path / "account.json"),
            "--sendgrid-events-url",
            "http://127.0.0.1:9/webhooks/sendgrid/events",
            "--callback-delay",
            "2.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        settings = requests.get(f"{url}/_emulator/callbacks", timeout=5).json()["settings"]
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert settings["sendgrid_url"] == "http://127.0.0.1:9/webhooks/sendgrid/events"
    assert settings["delivered_after"] == 2.5
    assert settings["twilio"] is True
