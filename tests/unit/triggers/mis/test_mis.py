"""MIS events: signatures, payload validation and the announcement a payment becomes (pure)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dispatcher.triggers.mis.events import (
    ContactUpdatedData,
    PayloadError,
    PaymentData,
    StudentLeftData,
    event_json_schema,
    parse_event,
)
from dispatcher.triggers.mis.processing import format_date, format_pence, payment_request
from dispatcher.triggers.mis.signing import (
    SignatureError,
    school_secret,
    secret_variable,
    sign,
    verify_signature,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SECRET = b"s3cret"
BODY = b'{"id":"evt_1","type":"student.left","data":{"student_id":"S1"}}'


def stamp(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def test_a_correct_signature_is_accepted() -> None:
    ts = stamp(NOW)
    verify_signature(SECRET, ts, sign(SECRET, ts, BODY), BODY, NOW)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET, b"1795687200." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1795687200", BODY) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "field"),
    [
        (None, "x", BODY, "header.X-MIS-Timestamp"),
        ("yesterday", "x", BODY, "header.X-MIS-Timestamp"),
        (stamp(NOW), None, BODY, "header.X-MIS-Signature"),
        (stamp(NOW), sign(b"other", stamp(NOW), BODY), BODY, "header.X-MIS-Signature"),
        (stamp(NOW), sign(SECRET, stamp(NOW), BODY), BODY + b" ", "header.X-MIS-Signature"),
        (stamp(NOW), sign(SECRET, str(int(stamp(NOW)) + 1), BODY), BODY, "header.X-MIS-Signature"),
    ],
)
def test_a_wrong_or_missing_signature_is_refused_naming_the_header(
    timestamp: str | None, signature: str | None, body: bytes, field: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_signature(SECRET, timestamp, signature, body, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=-5, seconds=-1), timedelta(minutes=5, seconds=1)]
)
def test_requests_outside_the_five_minute_window_are_refused(offset: timedelta) -> None:
    ts = stamp(NOW + offset)
    with pytest.raises(SignatureError) as caught:
        verify_signature(SECRET, ts, sign(SECRET, ts, BODY), BODY, NOW)
    assert caught.value.field == "header.X-MIS-Timestamp"
    assert "5 minutes" in str(caught.value)


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(minutes=5)])
def test_requests_at_the_edge_of_the_window_are_accepted(offset: timedelta) -> None:
    ts = stamp(NOW + offset)
    verify_signature(SECRET, ts, sign(SECRET, ts, BODY), BODY, NOW)


def test_each_school_has_its_own_secret_variable() -> None:
    assert secret_variable("three-dimensions") == "DISPATCHER_MIS_SECRET_THREE_DIMENSIONS"
    env = {"DISPATCHER_MIS_SECRET_DEMO": "abc"}
    assert school_secret("demo", env) == b"abc"
    assert school_secret("brockmoor", env) is None


def payment(**data: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "student_id": "S1",
        "item": "Year 6 residential",
        "amount_pence": 8500,
        "due_date": "2026-12-04",
        "payment_link": "https://pay.example/r/S1",
    }
    values.update(data)
    return {"id": "evt_1", "type": "payment.due", "data": values}


def errors_of(payload: Any) -> list[tuple[str, str]]:
    with pytest.raises(PayloadError) as caught:
        parse_event(payload)
    return caught.value.errors


def test_valid_events_parse_to_their_type() -> None:
    assert isinstance(parse_event(payment())[1], PaymentData)
    left = {"id": "e", "type": "student.left", "data": {"student_id": "S1"}}
    assert isinstance(parse_event(left)[1], StudentLeftData)
    updated = {
        "id": "e",
        "type": "contact.updated",
        "data": {"contact_id": "C1", "changes": {"mobile": "07700 900123", "needs": ["no_sms"]}},
    }
    _, data = parse_event(updated)
    assert isinstance(data, ContactUpdatedData)
    assert data.changes.mobile == "+447700900123"
    assert data.changes.needs == ["no_sms"]
    assert data.changes.model_fields_set == {"mobile", "needs"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "body"),
        ({"type": "payment.due", "data": {}}, "body.id"),
        (payment(amount_pence="85.00"), "body.data.amount_pence"),
        (payment(amount_pence=0), "body.data.amount_pence"),
        (payment(due_date="4/12/2026"), "body.data.due_date"),
        (payment(payment_link="http://pay.example/x"), "body.data.payment_link"),
        (payment(student_id=""), "body.data.student_id"),
        ({"id": "e", "type": "payment.due", "data": {"student_id": "S1"}}, "body.data.item"),
    ],
)
def test_an_invalid_payload_names_the_field(payload: Any, field: str) -> None:
    assert field in [f for f, _ in errors_of(payload)]


@pytest.mark.parametrize(
    ("changes", "field", "phrase"),
    [
        ({"mobile": "07700 9001"}, "body.data.changes.mobile", "phone number"),
        ({"email": "anne at example.com"}, "body.data.changes.email", "email"),
        ({"preferred_channel": "fax"}, "body.data.changes.preferred_channel", "sms, email, push"),
        ({"language": "english!"}, "body.data.changes.language", "language tag"),
        ({"needs": ["no_sms", "telepathy"]}, "body.data.changes.needs", "not a known need"),
        ({"nickname": "Annie"}, "body.data.changes.nickname", "not permitted"),
        ({}, "body.data.changes", "at least one"),
    ],
)
def test_contact_changes_follow_the_roster_rules(
    changes: dict[str, Any], field: str, phrase: str
) -> None:
    payload = {
        "id": "e",
        "type": "contact.updated",
        "data": {"contact_id": "C1", "changes": changes},
    }
    errors = errors_of(payload)
    [message] = [m for f, m in errors if f == field]
    assert phrase in message.lower() or phrase in message
    for value in changes.values():  # none for {}: the error is about the empty object
        if isinstance(value, str) and len(value) > 3:
            assert value not in json.dumps(errors)  # personal data is never echoed


def test_an_unknown_type_is_flagged() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event({"id": "e", "type": "pupil.teleported", "data": {}})
    assert caught.value.unknown_type
    assert caught.value.errors[0][0] == "body.type"


def test_money_and_dates_read_naturally() -> None:
    assert format_pence(8500) == "£85.00"
    assert format_pence(123456) == "£1,234.56"
    assert format_pence(5) == "£0.05"
    assert format_date(date(2026, 12, 4)) == "Friday 4 December 2026"


def test_a_payment_becomes_a_payment_request_to_the_student() -> None:
    envelope, data = parse_event(payment())
    assert isinstance(data, PaymentData)
    request = payment_request("demo", envelope.id, envelope.type, data)
    assert request.category == "payment_request"
    assert request.audience == ["student:S1"]
    assert request.trigger == "mis"
    assert request.idempotency_key == "mis:evt_1"
    assert request.variables == {
        "item": "Year 6 residential",
        "amount": "£85.00",
        "due_date": "Friday 4 December 2026",
        "payment_link": "https://pay.example/r/S1",
    }
    overdue = payment_request("demo", envelope.id, "payment.overdue", data)
    assert overdue.variables["item"] == "Year 6 residential (overdue since Friday 4 December 2026)"
    assert overdue.variables["due_date"] == "today"


def test_the_documented_schema_has_no_dangling_references() -> None:
    schema = event_json_schema()
    assert "$ref" not in json.dumps(schema)
    assert len(schema["oneOf"]) == 4
