"""Twilio Messages through the real ``twilio`` SDK against the emulator."""

from __future__ import annotations

import re

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import ProviderEmulator

MOBILE = "+447700900123"


def test_send_returns_a_queued_message_and_is_recorded(
    emulator: ProviderEmulator, twilio_client: Client
) -> None:
    message = twilio_client.messages.create(
        to=MOBILE,
        from_="BROCKMOOR",
        body="School closed today: heavy snow.",
        status_callback="http://127.0.0.1:9/twilio/status?delivery=1",
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert message.to == MOBILE
    assert message.from_ == "BROCKMOOR"
    assert message.num_segments == "1"
    assert message.account_sid == emulator.TWILIO_ACCOUNT_SID
    assert message.date_created is not None
    [sent] = emulator.messages("twilio")
    assert sent.status == 201
    assert sent.form is not None
    assert sent.form["To"] == MOBILE
    assert sent.form["Body"] == "School closed today: heavy snow."
    assert sent.form["StatusCallback"].endswith("/twilio/status?delivery=1")
    assert sent.headers["Authorization"] == "Basic ***"


def test_fetch_returns_the_stored_message(twilio_client: Client) -> None:
    sid = twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi").sid

    fetched = twilio_client.messages(sid).fetch()

    assert fetched.sid == sid
    assert fetched.body == "Hi"
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.messages("SM" + "f" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_messaging_service_messages_are_accepted(twilio_client: Client) -> None:
    message = twilio_client.messages.create(
        to=MOBILE, messaging_service_sid="MG" + "1" * 32, body="Hi"
    )

    assert message.status == "accepted"
    assert message.from_ is None
    assert message.messaging_service_sid == "MG" + "1" * 32


def test_wrong_auth_token_is_refused_with_20003(emulator: ProviderEmulator) -> None:
    client = Client(emulator.TWILIO_ACCOUNT_SID, "wrong-token")
    client.api.base_url = emulator.url

    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=MOBILE, from_="BROCKMOOR", body="Hi")

    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert [r.status for r in emulator.requests] == [401]
    assert emulator.messages("twilio") == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "07700 900123", "from_": "BROCKMOOR", "body": "Hi"}, 21211),
        ({"to": MOBILE, "body": "Hi"}, 21603),
        ({"to": MOBILE, "from_": "BROCKMOOR", "body": "x" * 1601}, 21617),
        ({"to": MOBILE, "from_": "NOT A VALID SENDER", "body": "Hi"}, 21212),
        ({"to": MOBILE, "from_": "BROCKMOOR", "body": ""}, 21602),
    ],
)
def test_invalid_requests_get_twilio_error_codes(
    twilio_client: Client, kwargs: dict[str, str], code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.messages.create(**kwargs)

    assert (caught.value.status, caught.value.code) == (400, code)


def test_segments_follow_the_encoding(twilio_client: Client) -> None:
    gsm = twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="a" * 161)
    ucs2 = twilio_client.messages.create(to=MOBILE, from_="BROCKMOOR", body="ż" * 71)

    assert (gsm.num_segments, ucs2.num_segments) == ("2", "2")
