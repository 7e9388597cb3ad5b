"""Failure rules, through each real SDK: status, code, recipient, count, rate, Retry-After,
latency and timeouts.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests
import sendgrid
from google.auth.transport.requests import AuthorizedSession
from python_http_client.exceptions import HTTPError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import FailureRule, ProviderEmulator

from .conftest import make_twilio_client
from .test_fcm import fcm_error, push
from .test_sendgrid import error_of, mail

MOBILE = "+447700900123"
OTHER = "+447700900456"


def sms(client: Client, to: str = MOBILE) -> str:
    return str(client.messages.create(to=to, from_="BROCKMOOR", body="Hi").sid)


@pytest.mark.parametrize(
    ("rule", "status", "code"),
    [
        (FailureRule("twilio", status=500), 500, 20500),
        (FailureRule("twilio", status=503), 503, 20503),
        (FailureRule("twilio", code=21614), 400, 21614),
        (FailureRule("twilio", code=21610), 400, 21610),
        (FailureRule("twilio", status=429), 429, 20429),
        (FailureRule("twilio"), 500, 20500),
    ],
)
def test_twilio_rules_answer_twilio_errors(
    emulator: ProviderEmulator, twilio_client: Client, rule: FailureRule, status: int, code: int
) -> None:
    emulator.add_failure(rule)

    with pytest.raises(TwilioRestException) as caught:
        sms(twilio_client)

    assert (caught.value.status, caught.value.code) == (status, code)
    assert emulator.requests[-1].status == status


@pytest.mark.parametrize(
    ("rule", "status", "google_status", "error_code"),
    [
        (FailureRule("fcm", code="UNREGISTERED"), 404, "NOT_FOUND", "UNREGISTERED"),
        (FailureRule("fcm", code="INVALID_ARGUMENT"), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (FailureRule("fcm", code="QUOTA_EXCEEDED"), 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
        (FailureRule("fcm", code="UNAVAILABLE"), 503, "UNAVAILABLE", "UNAVAILABLE"),
        (FailureRule("fcm", code="INTERNAL"), 500, "INTERNAL", "INTERNAL"),
        (FailureRule("fcm", status=503), 503, "UNAVAILABLE", "UNAVAILABLE"),
    ],
)
def test_fcm_rules_answer_fcm_errors(
    emulator: ProviderEmulator,
    fcm_session: AuthorizedSession,
    fcm_url: str,
    rule: FailureRule,
    status: int,
    google_status: str,
    error_code: str,
) -> None:
    emulator.add_failure(rule)

    response = fcm_session.post(fcm_url, json=push())

    assert response.status_code == status
    assert fcm_error(response) == (status, google_status, error_code)


@pytest.mark.parametrize(
    ("rule", "status", "message"),
    [
        (FailureRule("sendgrid", status=500), 500, "internal server error"),
        (FailureRule("sendgrid", status=429), 429, "too many requests"),
        (FailureRule("sendgrid", status=401), 401, "authorization grant is invalid"),
        (FailureRule("sendgrid", code="Does not contain a valid address."), 400, "valid address"),
    ],
)
def test_sendgrid_rules_answer_sendgrid_errors(
    emulator: ProviderEmulator,
    sendgrid_client: sendgrid.SendGridAPIClient,
    rule: FailureRule,
    status: int,
    message: str,
) -> None:
    emulator.add_failure(rule)

    with pytest.raises(HTTPError) as caught:
        sendgrid_client.send(mail())

    assert caught.value.status_code == status
    assert message in error_of(caught.value)["message"]


def test_a_rule_for_one_recipient_spares_the_others(
    emulator: ProviderEmulator,
    twilio_client: Client,
    fcm_session: AuthorizedSession,
    fcm_url: str,
) -> None:
    emulator.add_failure(FailureRule("twilio", code=21614, to=MOBILE))
    emulator.add_failure(FailureRule("fcm", to="dead-token"))

    with pytest.raises(TwilioRestException) as caught:
        sms(twilio_client, MOBILE)
    sms(twilio_client, OTHER)
    dead = fcm_session.post(fcm_url, json=push("dead-token"))
    live = fcm_session.post(fcm_url, json=push("live-token"))

    assert caught.value.code == 21614
    assert fcm_error(dead) == (404, "NOT_FOUND", "UNREGISTERED")
    assert live.status_code == 200
    assert [m.form["To"] for m in emulator.messages("twilio") if m.form] == [OTHER]


def test_count_limits_a_rule_then_sends_succeed(
    emulator: ProviderEmulator, twilio_client: Client
) -> None:
    emulator.add_failure(FailureRule("twilio", status=503, rate=1.0, count=2))

    outcomes = []
    for _ in range(3):
        try:
            sms(twilio_client)
            outcomes.append(201)
        except TwilioRestException as exc:
            outcomes.append(exc.status)

    assert outcomes == [503, 503, 201]
    assert emulator.failure_rules() == []


def test_rate_applies_a_rule_to_about_that_share(
    emulator: ProviderEmulator, fcm_session: AuthorizedSession, fcm_url: str
) -> None:
    emulator.add_failure(FailureRule("fcm", code="UNAVAILABLE", rate=0.5))
    emulator.add_failure(FailureRule("fcm", code="INTERNAL", rate=0.0))

    statuses = [fcm_session.post(fcm_url, json=push()).status_code for _ in range(100)]

    assert set(statuses) == {200, 503}
    assert 25 <= statuses.count(503) <= 75


def test_retry_after_is_sent_with_the_error(
    emulator: ProviderEmulator,
    twilio_client: Client,
    sendgrid_client: sendgrid.SendGridAPIClient,
    fcm_session: AuthorizedSession,
    fcm_url: str,
) -> None:
    emulator.add_failure(FailureRule("twilio", status=429, retry_after=2, count=1))
    emulator.add_failure(FailureRule("sendgrid", status=429, retry_after=1.5, count=1))
    emulator.add_failure(FailureRule("fcm", code="QUOTA_EXCEEDED", retry_after=30, count=1))

    with pytest.raises(TwilioRestException) as twilio_error:
        sms(twilio_client)
    twilio_response = twilio_client.http_client._test_only_last_response
    with pytest.raises(HTTPError) as sendgrid_error:
        sendgrid_client.send(mail())
    fcm_response = fcm_session.post(fcm_url, json=push())

    assert (twilio_error.value.status, twilio_error.value.code) == (429, 20429)
    assert twilio_response is not None
    assert twilio_response.headers["Retry-After"] == "2"
    assert sendgrid_error.value.headers["Retry-After"] == "1.5"
    assert fcm_response.headers["Retry-After"] == "30"


def test_latency_delays_every_answer(emulator: ProviderEmulator, twilio_client: Client) -> None:
    emulator.latency = 0.25

    started = time.perf_counter()
    sms(twilio_client)
    delayed = time.perf_counter() - started
    emulator.latency = 0.0
    started = time.perf_counter()
    sms(twilio_client)
    prompt = time.perf_counter() - started

    assert delayed >= 0.25
    assert prompt < delayed


def test_timeout_hangs_then_closes_without_answering(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    emulator.add_failure(FailureRule("twilio", timeout=True, hang_seconds=1.0, count=1))
    emulator.add_failure(FailureRule("sendgrid", timeout=True, hang_seconds=0.3, count=1))
    impatient = make_twilio_client(emulator, timeout=0.2)

    with pytest.raises(requests.exceptions.ReadTimeout):
        sms(impatient)
    with pytest.raises((socket.timeout, TimeoutError, ConnectionError, OSError)):
        sendgrid_client.client.mail.send.post(request_body=mail().get(), timeout=5)

    assert [r.status for r in emulator.requests] == [0, 0]
    sms(impatient)
    sendgrid_client.send(mail())
    assert [r.status for r in emulator.requests][-2:] == [201, 202]


def test_rules_apply_after_authentication(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("twilio", status=500))
    client = Client(emulator.TWILIO_ACCOUNT_SID, "wrong-token")
    client.api.base_url = emulator.url

    with pytest.raises(TwilioRestException) as caught:
        sms(client)

    assert caught.value.status == 401


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="provider"):
        FailureRule("carrier-pigeon")
    with pytest.raises(ValueError, match="rate"):
        FailureRule("twilio", rate=1.5)
    with pytest.raises(ValueError, match="unknown"):
        FailureRule.from_dict({"provider": "twilio", "colour": "red"})
