"""The SendGrid email adapter, through the real ``sendgrid`` SDK against the emulator."""

from __future__ import annotations

import logging
import time

import pytest
from markupsafe import escape

from dispatcher.channels.base import (
    ConfigurationFailure,
    OutgoingMessage,
    PermanentFailure,
    ProviderReceipt,
    TransientFailure,
)
from dispatcher.channels.retry import RetryPolicy
from dispatcher.channels.sendgrid_email import SendGridEmailAdapter
from emulator import FailureRule, ProviderEmulator
from tests.support.adapters import FAST_RETRY, gaps, json_body
from tests.support.messages import email_message

REPLY_TO = "office@brockmoor.example.org"


def adapter(
    emulator: ProviderEmulator,
    *,
    api_key: str = ProviderEmulator.SENDGRID_API_KEY,
    retry: RetryPolicy = FAST_RETRY,
    timeout: float = 5.0,
) -> SendGridEmailAdapter:
    return SendGridEmailAdapter(
        api_key,
        base_url=emulator.url,
        unsubscribable_categories=frozenset({"newsletter", "survey"}),
        retry=retry,
        timeout=timeout,
    )


def test_send_posts_parts_custom_args_and_categories(emulator: ProviderEmulator) -> None:
    message = email_message(delivery_id=41, to="anne@example.com")
    receipt = adapter(emulator).send(message)
    [sent] = emulator.messages("sendgrid")
    body = json_body(sent)
    [message_id] = emulator.sendgrid_message_ids()
    assert receipt == ProviderReceipt("sendgrid", f"{message_id}.41")
    assert body["personalizations"] == [
        {
            "to": [{"email": "anne@example.com"}],
            "custom_args": {"delivery_id": "41", "announcement_id": "7"},
        }
    ]
    assert body["from"] == {"email": "office@brockmoor.example.org"}
    assert body["reply_to"] == {"email": REPLY_TO}
    assert body["subject"] == message.rendered.subject
    assert body["content"] == [
        {"type": "text/plain", "value": message.rendered.body},
        {"type": "text/html", "value": message.rendered.html},
    ]
    assert body["categories"] == ["brockmoor", "emergency_closure"]
    assert "headers" not in body  # an emergency closure cannot be opted out of
    assert sent.headers["Authorization"].startswith("Bearer")


def test_list_unsubscribe_only_where_families_may_opt_out(emulator: ProviderEmulator) -> None:
    adapter(emulator).send(email_message(category="newsletter"))
    [sent] = emulator.messages("sendgrid")
    assert json_body(sent)["headers"] == {
        "List-Unsubscribe": f"<mailto:{REPLY_TO}?subject=unsubscribe%20newsletter>"
    }


def test_a_batch_shares_one_request_and_every_delivery_has_its_receipt(
    emulator: ProviderEmulator,
) -> None:
    same = [email_message(delivery_id=i, to=f"parent{i}@example.com") for i in range(1, 6)]
    other = email_message(delivery_id=9, to="parent9@example.com", subject="Another subject")
    results = adapter(emulator).send_batch([*same, other])
    sends = emulator.messages("sendgrid")
    assert len(sends) == 2
    shared = next(s for s in sends if len(json_body(s)["personalizations"]) == 5)
    assert [p["custom_args"]["delivery_id"] for p in json_body(shared)["personalizations"]] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert [p["to"] for p in json_body(shared)["personalizations"]] == [
        [{"email": f"parent{i}@example.com"}] for i in range(1, 6)
    ]
    assert set(results) == {1, 2, 3, 4, 5, 9}
    receipts = list(results.values())
    assert all(isinstance(r, ProviderReceipt) for r in receipts)
    ids = {r.provider_message_id for r in receipts if isinstance(r, ProviderReceipt)}
    assert len(ids) == 6
    prefixes = {i.rsplit(".", 1)[0] for i in ids}
    assert prefixes == set(emulator.sendgrid_message_ids())


def family_email(delivery_id: int, contact: str, child: str) -> OutgoingMessage:
    return email_message(
        delivery_id=delivery_id,
        to=f"parent{delivery_id}@example.com",
        subject=f"School closed: please keep {child} at home",
        body=f"Dear {contact},\n\nThe school is closed. Please keep {child} at home.",
        html=f"<p>Dear {escape(contact)},</p><p>Please keep {escape(child)} at home.</p>",
        personal=(contact, child),
    )


def test_families_with_their_own_names_share_a_request_and_each_reads_their_own(
    emulator: ProviderEmulator,
) -> None:
    families = [
        family_email(1, "Anne", "Amy"),
        family_email(2, "Siobhán", "Zoë"),
        family_email(3, "Ann & Joe", "D'Arcy"),
        family_email(4, "Ed", "Tom"),  # "Ed" is also inside "closed"
        family_email(5, "Sean", "Sean"),  # the parent's and the child's name alike
    ]
    results = adapter(emulator).send_batch(families)
    assert set(results) == {1, 2, 3, 4, 5}
    assert all(isinstance(r, ProviderReceipt) for r in results.values())
    requests = emulator.messages("sendgrid")
    assert len(requests) == 2  # four share one content; Sean's reads differently
    delivered = {e["custom_args"]["delivery_id"]: e for e in emulator.sendgrid_emails()}
    for message in families:
        email = delivered[str(message.delivery_id)]
        assert email["to"] == [message.to]
        assert email["subject"] == message.rendered.subject
        assert email["content"] == {
            "text/plain": message.rendered.body,
            "text/html": message.rendered.html,
        }
    shared = next(r for r in requests if len(json_body(r)["personalizations"]) == 4)
    assert "Anne" not in str(json_body(shared)["content"])  # names travel as substitutions
    assert json_body(shared)["personalizations"][0]["substitutions"] == {
        "%dp0%": "Anne",
        "%dh0%": "Anne",
        "%dp1%": "Amy",
        "%dh1%": "Amy",
    }


def test_a_batch_never_names_an_address_twice_in_one_request(
    emulator: ProviderEmulator,
) -> None:
    shared_inbox = [email_message(delivery_id=i, to="family@example.com") for i in (1, 2)]
    results = adapter(emulator).send_batch(shared_inbox)
    assert len(emulator.messages("sendgrid")) == 2
    assert set(results) == {1, 2}
    assert all(isinstance(r, ProviderReceipt) for r in results.values())


def test_a_batch_is_split_at_1000_personalizations(emulator: ProviderEmulator) -> None:
    many = [email_message(delivery_id=i, to=f"p{i}@example.com") for i in range(1, 1202)]
    results = adapter(emulator).send_batch(many)
    assert sorted(len(json_body(s)["personalizations"]) for s in emulator.messages("sendgrid")) == [
        201,
        1000,
    ]
    assert len(results) == 1201
    assert all(isinstance(r, ProviderReceipt) for r in results.values())


def test_an_invalid_address_fails_only_its_delivery(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", to="bounce@example.com"))
    batch = [
        email_message(delivery_id=1, to="ok1@example.com"),
        email_message(delivery_id=2, to="bounce@example.com"),
        email_message(delivery_id=3, to="ok3@example.com"),
    ]
    results = adapter(emulator).send_batch(batch)
    failed = results[2]
    assert isinstance(failed, PermanentFailure) and failed.code == "invalid_email"
    assert isinstance(results[1], ProviderReceipt) and isinstance(results[3], ProviderReceipt)
    [accepted] = emulator.messages("sendgrid")
    assert [p["to"][0]["email"] for p in json_body(accepted)["personalizations"]] == [
        "ok1@example.com",
        "ok3@example.com",
    ]


def test_send_raises_invalid_email(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", to="bounce@example.com"))
    with pytest.raises(PermanentFailure) as caught:
        adapter(emulator).send(email_message(to="bounce@example.com"))
    assert caught.value.code == "invalid_email"
    assert "bounce@example.com" not in str(caught.value)
    assert len(emulator.recorded("sendgrid")) == 1


@pytest.mark.parametrize(("status", "code"), [(413, "payload_too_large"), (400, "bad_request")])
def test_other_permanent_answers(emulator: ProviderEmulator, status: int, code: str) -> None:
    emulator.add_failure(FailureRule("sendgrid", status=status, code="Bad Request"))
    with pytest.raises(PermanentFailure) as caught:
        adapter(emulator).send(email_message())
    assert not isinstance(caught.value, ConfigurationFailure)
    assert caught.value.code == code
    assert len(emulator.recorded("sendgrid")) == 1


def test_a_wrong_api_key_is_a_configuration_failure(emulator: ProviderEmulator) -> None:
    with pytest.raises(ConfigurationFailure) as caught:
        adapter(emulator, api_key="SG.wrong").send(email_message())
    assert caught.value.code == "unauthorized"


def test_403_is_a_configuration_failure_and_stops_the_batch(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", status=403))
    batch = [
        email_message(delivery_id=1, to="a@example.com"),
        email_message(delivery_id=2, to="b@example.com", subject="Other content"),
    ]
    results = adapter(emulator).send_batch(batch)
    assert set(results) == {1, 2}
    assert all(isinstance(r, ConfigurationFailure) for r in results.values())
    assert len(emulator.recorded("sendgrid")) == 1  # the second request was never made


def test_429_is_retried_after_retry_after(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", status=429, count=1, retry_after=0.6))
    adapter(emulator).send(email_message())
    tries = emulator.recorded("sendgrid")
    assert [r.status for r in tries] == [429, 202]
    assert gaps([r.at for r in tries])[0] >= 0.6


def test_5xx_is_retried(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", status=500, count=2))
    adapter(emulator).send(email_message())
    assert [r.status for r in emulator.recorded("sendgrid")] == [500, 500, 202]


def test_5xx_that_outlasts_the_retries_is_transient_for_every_delivery(
    emulator: ProviderEmulator,
) -> None:
    emulator.add_failure(FailureRule("sendgrid", status=503))
    batch = [email_message(delivery_id=i, to=f"p{i}@example.com") for i in (1, 2)]
    results = adapter(emulator).send_batch(batch)
    assert set(results) == {1, 2}
    assert all(
        isinstance(r, TransientFailure) and r.code == "unavailable" for r in results.values()
    )
    assert len(emulator.recorded("sendgrid")) == FAST_RETRY.attempts


def test_a_timeout_is_transient_after_the_retries(emulator: ProviderEmulator) -> None:
    emulator.add_failure(FailureRule("sendgrid", timeout=True, hang_seconds=1.0))
    started = time.monotonic()
    with pytest.raises(TransientFailure) as caught:
        adapter(emulator, timeout=0.3).send(email_message())
    assert caught.value.code == "timeout"
    assert len(emulator.recorded("sendgrid")) == FAST_RETRY.attempts
    assert time.monotonic() - started < 5


def test_a_provider_that_cannot_be_reached_is_transient() -> None:
    with ProviderEmulator() as gone:
        url = gone.url
    sendgrid = SendGridEmailAdapter("SG.key", base_url=url, retry=FAST_RETRY)
    with pytest.raises(TransientFailure) as caught:
        sendgrid.send(email_message())
    assert caught.value.code == "connection_error"


def test_credentials_never_appear_in_logs_errors_or_reprs(
    emulator: ProviderEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SG.sendgrid-secret-api-key-1234"
    sendgrid = adapter(emulator, api_key=secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationFailure) as caught:
        sendgrid.send(email_message())
    # python-http-client logs the request headers, Authorization included, at DEBUG
    assert any(r.name == "python_http_client.client" for r in caplog.records)
    assert secret not in caplog.text
    assert all(secret not in repr(vars(r)) for r in caplog.records)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert secret not in repr(sendgrid)
