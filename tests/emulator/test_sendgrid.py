"""SendGrid v3 Mail Send through the real ``sendgrid`` SDK against the emulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import sendgrid
from python_http_client.exceptions import HTTPError
from sendgrid.helpers.mail import CustomArg, Mail, Personalization, To

from emulator import FailureRule, ProviderEmulator


def mail(*recipients: str, subject: str | None = "School closed today") -> Mail:
    message = Mail(
        from_email=("office@school.example", "Brockmoor Primary"),
        subject=subject,
        plain_text_content="The school is closed today.",
        html_content="<p>The school is closed today.</p>",
    )
    for n, address in enumerate(recipients or ("parent@example.com",)):
        personalization = Personalization()
        personalization.add_to(To(address))
        personalization.add_custom_arg(CustomArg("delivery_id", str(n + 1)))
        # The helper inserts at index 0 unless told otherwise.
        message.add_personalization(personalization, index=n)
    return message


def error_of(exc: HTTPError) -> dict[str, Any]:
    errors: list[dict[str, Any]] = json.loads(exc.body)["errors"]
    assert len(errors) == 1
    return errors[0]


def test_send_is_accepted_with_a_message_id(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    response = sendgrid_client.send(mail("a@example.com", "b@example.com"))

    assert response.status_code == 202
    assert response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    assert emulator.sendgrid_message_ids() == [message_id]
    [sent] = emulator.messages("sendgrid")
    assert sent.headers["Authorization"] == "Bearer ***"
    assert sent.json is not None
    assert [p["to"][0]["email"] for p in sent.json["personalizations"]] == [
        "a@example.com",
        "b@example.com",
    ]
    assert emulator.stats()["recipients"]["sendgrid"] == 2


def test_wrong_api_key_is_refused(emulator: ProviderEmulator) -> None:
    client = sendgrid.SendGridAPIClient("SG.wrong", host=emulator.url)

    with pytest.raises(HTTPError) as caught:
        client.send(mail())

    assert caught.value.status_code == 401
    assert "authorization grant is invalid" in error_of(caught.value)["message"]


def test_missing_authorization_is_refused(emulator: ProviderEmulator) -> None:
    request = urllib.request.Request(f"{emulator.url}/v3/mail/send", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 401
    assert json.loads(caught.value.read())["errors"][0]["message"] == "authorization required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"personalizations": []}, "personalizations"),
        (
            {
                "personalizations": [{"to": [{"email": "a@example.com"}]}],
                "from": {"email": "office@school.example"},
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "subject",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "a@example.com"}]}],
                "subject": "S",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "from",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "not-an-address"}]}],
                "from": {"email": "office@school.example"},
                "subject": "S",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "personalizations.0.to.0.email",
        ),
        (
            {
                "personalizations": [{"to": [{"email": "a@example.com"}]}],
                "from": {"email": "office@school.example"},
                "subject": "S",
                "content": [
                    {"type": "text/html", "value": "<p>x</p>"},
                    {"type": "text/plain", "value": "x"},
                ],
            },
            "content",
        ),
        (
            {
                "personalizations": [
                    {"to": [{"email": "a@example.com"}], "custom_args": {"delivery_id": 5}}
                ],
                "from": {"email": "office@school.example"},
                "subject": "S",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "personalizations.0.custom_args.delivery_id",
        ),
        (
            {
                "personalizations": [
                    {"to": [{"email": "a@example.com"}], "substitutions": {"-name-": 5}}
                ],
                "from": {"email": "office@school.example"},
                "subject": "S",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "personalizations.0.substitutions.-name-",
        ),
        (
            {
                "personalizations": [
                    {"to": [{"email": "a@example.com"}], "substitutions": {"-name-": "x" * 10_000}}
                ],
                "from": {"email": "office@school.example"},
                "subject": "S",
                "content": [{"type": "text/plain", "value": "x"}],
            },
            "personalizations.0.substitutions",
        ),
    ],
)
def test_invalid_bodies_name_the_field(
    sendgrid_client: sendgrid.SendGridAPIClient, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(HTTPError) as caught:
        sendgrid_client.send(body)

    assert caught.value.status_code == 400
    assert error_of(caught.value)["field"] == field


def test_each_recipient_reads_the_email_with_their_substitutions(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    body = {
        "personalizations": [
            {"to": [{"email": f"{name.lower()}@example.com"}], "substitutions": {"-name-": name}}
            for name in ("Anne", "Bea")
        ],
        "from": {"email": "office@school.example"},
        "subject": "For -name-",
        "content": [
            {"type": "text/plain", "value": "Dear -name-,"},
            {"type": "text/html", "value": "<p>Dear -name-,</p>"},
        ],
    }
    sendgrid_client.send(body)

    assert [(e["to"], e["subject"], e["content"]) for e in emulator.sendgrid_emails()] == [
        (
            ["anne@example.com"],
            "For Anne",
            {"text/plain": "Dear Anne,", "text/html": "<p>Dear Anne,</p>"},
        ),
        (
            ["bea@example.com"],
            "For Bea",
            {"text/plain": "Dear Bea,", "text/html": "<p>Dear Bea,</p>"},
        ),
    ]


def test_more_than_1000_personalizations_are_refused(
    sendgrid_client: sendgrid.SendGridAPIClient,
) -> None:
    body = mail(*(f"p{n}@example.com" for n in range(1001))).get()

    with pytest.raises(HTTPError) as caught:
        sendgrid_client.send(body)

    assert caught.value.status_code == 400
    assert "1001 personalizations" in error_of(caught.value)["message"]
    sendgrid_client.send(mail(*(f"p{n}@example.com" for n in range(1000))))


def test_a_body_over_30_mb_is_refused_with_413(
    sendgrid_client: sendgrid.SendGridAPIClient,
) -> None:
    body = mail().get()
    body["content"][0]["value"] = "x" * (30 * 1024 * 1024 + 1)

    with pytest.raises(HTTPError) as caught:
        sendgrid_client.send(body)

    assert caught.value.status_code == 413


def test_a_rule_for_one_address_fails_the_batch_naming_its_field(
    emulator: ProviderEmulator, sendgrid_client: sendgrid.SendGridAPIClient
) -> None:
    emulator.add_failure(FailureRule("sendgrid", to="Bounced@Example.com"))

    with pytest.raises(HTTPError) as caught:
        sendgrid_client.send(mail("a@example.com", "bounced@example.com"))
    sendgrid_client.send(mail("a@example.com"))

    assert caught.value.status_code == 400
    assert error_of(caught.value)["field"] == "personalizations.1.to.0.email"
    assert len(emulator.messages("sendgrid")) == 1
