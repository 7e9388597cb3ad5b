"""Drop-answer rules: the provider accepts the message (it is sent, its callbacks follow) but
the client gets no answer, only a closed connection or a timeout, through each real SDK.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import requests
import sendgrid
from google.auth.transport.requests import AuthorizedSession
from twilio.rest import Client

from emulator import AutoCallbacks, FailureRule, ProviderEmulator

from .conftest import Receiver, make_twilio_client
from .test_fcm import push
from .test_sendgrid import mail

MOBILE = "+447700900123"


def test_twilio_sends_the_message_and_the_client_sees_a_connection_error(
    emulator: ProviderEmulator, twilio_client: Client, receiver: Receiver
) -> None:
    emulator.enable_callbacks(AutoCallbacks(twilio_sent_after=0, delivered_after=0.05))
    emulator.add_failure(FailureRule("twilio", drop_answer=True, count=1))
    callback_url = f"{receiver.url}/s?delivery_id=77"
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            twilio_client.messages.create(
                to=MOBILE, from_="BROCKMOOR", body="Hi", status_callback=callback_url
            )
        assert emulator.wait_for_callbacks(10)
    finally:
        emulator.disable_callbacks()

    [message] = emulator.messages("twilio")
    assert message.dropped and message.status == 201
    assert emulator.accepted_delivery_ids("twilio") == ["77"]
    assert emulator.stats()["counts"]["twilio"] == 1
    statuses = [dict(parse_qsl(r.body.decode()))["MessageStatus"] for r in receiver.received]
    assert statuses == ["sent", "delivered"]
    # The next request is answered as usual.
    twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi again")
    assert [m.dropped for m in emulator.messages("twilio")] == [True, False]


def test_sendgrid_sends_the_email_and_the_client_sees_a_connection_error(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    emulator.add_failure(FailureRule("sendgrid", drop_answer=True, count=1))

    with pytest.raises(OSError):  # http.client.RemoteDisconnected, through urllib
        sendgrid_client.send(mail("a@example.com", "b@example.com"))

    [message] = emulator.messages("sendgrid")
    assert message.dropped and message.status == 202
    assert emulator.accepted_delivery_ids("sendgrid") == ["1", "2"]
    assert len(emulator.sendgrid_message_ids()) == 1


def test_fcm_sends_the_push_and_the_client_sees_a_connection_error(
    emulator: ProviderEmulator, fcm_session: AuthorizedSession, fcm_url: str
) -> None:
    emulator.add_failure(FailureRule("fcm", drop_answer=True, count=1))
    body = push("device-token")
    body["message"]["data"] = {"delivery_id": "31"}

    with pytest.raises(requests.exceptions.ConnectionError):
        fcm_session.post(fcm_url, json=body)

    [message] = emulator.messages("fcm")
    assert message.dropped and message.status == 200
    assert emulator.accepted_delivery_ids("fcm") == ["31"]


def test_drop_answer_with_timeout_hangs_before_closing(emulator: ProviderEmulator) -> None:
    emulator.add_failure(
        FailureRule("twilio", drop_answer=True, timeout=True, hang_seconds=1.0, count=1)
    )
    impatient = make_twilio_client(emulator, timeout=0.2)

    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi")

    [message] = emulator.messages("twilio")
    assert message.dropped and message.status == 201


def test_drop_answer_is_a_control_api_field(emulator: ProviderEmulator) -> None:
    added = requests.post(
        f"{emulator.url}/_emulator/failures",
        json={"provider": "fcm", "drop_answer": True, "rate": 0.3},
        timeout=5,
    )

    assert added.status_code == 201
    assert emulator.failure_rules() == [FailureRule("fcm", rate=0.3, drop_answer=True)]
