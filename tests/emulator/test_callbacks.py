"""Provider callbacks: Twilio status callbacks and SendGrid event batches, checked with the
SDKs' own signature validators.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
import sendgrid
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from emulator import ProviderEmulator

from .conftest import Receiver
from .test_sendgrid import mail

MOBILE = "+447700900123"


def test_status_callback_is_signed_as_twilio_signs(
    emulator: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    callback_url = f"{receiver.url}/webhooks/twilio/status?delivery=42"
    sid = twilio_client.messages.create(
        to=MOBILE, from_="BROCKMOOR", body="Hi", status_callback=callback_url
    ).sid

    assert emulator.twilio_status_callback(sid, "sent") == 200
    assert emulator.twilio_status_callback(sid, "undelivered", error_code="30003") == 200

    sent, undelivered = receiver.received
    validator = RequestValidator(emulator.TWILIO_AUTH_TOKEN)
    for received in (sent, undelivered):
        params = dict(parse_qsl(received.body.decode()))
        assert received.path == "/webhooks/twilio/status?delivery=42"
        assert validator.validate(callback_url, params, received.headers["X-Twilio-Signature"])
        assert params["MessageSid"] == params["SmsSid"] == sid
        assert params["AccountSid"] == emulator.TWILIO_ACCOUNT_SID
        assert (params["To"], params["From"]) == (MOBILE, "BROCKMOOR")
    first = dict(parse_qsl(sent.body.decode()))
    last = dict(parse_qsl(undelivered.body.decode()))
    assert first["MessageStatus"] == "sent" and "ErrorCode" not in first
    assert (last["MessageStatus"], last["ErrorCode"]) == ("undelivered", "30003")
    tampered = {**last, "MessageStatus": "delivered"}
    signature = undelivered.headers["X-Twilio-Signature"]
    assert not validator.validate(callback_url, tampered, signature)
    fetched = twilio_client.messages(sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_status_callback_reports_the_receivers_answer(
    emulator: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    receiver.status = 500
    sid = twilio_client.messages.create(
        to=MOBILE, from_="BROCKMOOR", body="Hi", status_callback=f"{receiver.url}/s"
    ).sid

    assert emulator.twilio_status_callback(sid, "delivered") == 500


def test_status_callback_needs_a_known_message_with_a_callback(
    emulator: ProviderEmulator, twilio_client: Client
) -> None:
    sid = twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi").sid

    with pytest.raises(LookupError):
        emulator.twilio_status_callback(sid, "delivered")
    with pytest.raises(LookupError):
        emulator.twilio_status_callback("SM" + "0" * 32, "delivered")
    with pytest.raises(ValueError):
        emulator.twilio_status_callback(sid, "teleported")


def test_event_batch_is_signed_as_sendgrid_signs(
    emulator: ProviderEmulator,
    sendgrid_client: sendgrid.SendGridAPIClient,
    receiver: Receiver,
) -> None:
    response = sendgrid_client.send(mail("a@example.com", "b@example.com"))
    message_id = response.headers["X-Message-Id"]
    events = emulator.sendgrid_events_for(message_id, "delivered")
    events += emulator.sendgrid_events_for(
        message_id, "bounce", type="bounce", reason="550 5.1.1 unknown user"
    )[1:]

    assert emulator.sendgrid_event_batch(f"{receiver.url}/webhooks/sendgrid", events) == 200

    [received] = receiver.received
    payload = received.body.decode()
    signature = received.headers[EventWebhookHeader.SIGNATURE]
    timestamp = received.headers[EventWebhookHeader.TIMESTAMP]
    webhook = EventWebhook(emulator.sendgrid_webhook_public_key)
    assert webhook.verify_signature(payload, signature, timestamp)
    assert not webhook.verify_signature(payload.replace("delivered", "open"), signature, timestamp)
    posted = json.loads(payload)
    assert [(e["email"], e["event"], e["delivery_id"]) for e in posted] == [
        ("a@example.com", "delivered", "1"),
        ("b@example.com", "delivered", "2"),
        ("b@example.com", "bounce", "2"),
    ]
    assert all(e["sg_message_id"].startswith(message_id + ".") for e in posted)
    assert posted[2]["reason"] == "550 5.1.1 unknown user"


def test_events_need_a_known_message_id(emulator: ProviderEmulator) -> None:
    with pytest.raises(LookupError):
        emulator.sendgrid_events_for("nope", "delivered")
