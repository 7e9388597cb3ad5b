"""Twilio webhooks: status callbacks move deliveries (only forward, once) and start the
fallback; inbound STOP/START record and lift SMS opt-outs that routing honours; replies are
kept for the report. Signatures are computed with the twilio SDK's RequestValidator."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from dispatcher.reporting.reports import announcement_report
from dispatcher.store.models import InboundMessage, PlanOutcome, SmsOptOut
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import (
    NEWSLETTER_VARS,
    PUBLIC_BASE_URL,
    TUESDAY_10AM,
    TWILIO_TOKEN,
    Webhooks,
    deliveries,
    events,
    one,
    send,
)

PAYMENT_VARS = {
    "amount": "£12.50",
    "item": "the Paris trip",
    "due_date": "Friday",
    "payment_link": "https://pay.example/x",
}


def _sent_payment_sms(runtime: Any) -> tuple[int, Any]:
    """A payment request texted (no email back-up for payments) to a parent with email too."""
    import_roster(runtime, [row()])
    announcement_id = create(runtime, "payment_request", variables=PAYMENT_VARS, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    sms = one(deliveries(runtime, announcement_id), channel="sms")
    assert sms.state == "sent"
    return announcement_id, sms


def test_a_callback_signed_with_the_wrong_token_is_refused_and_changes_nothing(
    runtime: Any, hooks: Webhooks
) -> None:
    announcement_id, sms = _sent_payment_sms(runtime)
    before = events(runtime, sms.id)

    wrong = hooks.status(sms, "undelivered", "30003", token="not-the-auth-token")
    unsigned = hooks.status(sms, "undelivered", "30003", sign=False)
    # a genuine signature, replayed against another delivery's URL
    params = {"MessageSid": sms.provider_message_id or "", "MessageStatus": "undelivered"}
    genuine = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"{PUBLIC_BASE_URL}/webhooks/twilio/status?delivery_id={sms.id}", params
    )
    tampered = hooks.client.post(
        f"/webhooks/twilio/status?delivery_id={sms.id + 1}",
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": genuine,
        },
    )

    assert (wrong.status_code, unsigned.status_code, tampered.status_code) == (401, 401, 401)
    assert events(runtime, sms.id) == before
    assert [d.state for d in deliveries(runtime, announcement_id)] == ["sent"]
    assert hooks.queued == []


def test_delivered_then_repeats_and_late_sent_change_nothing(runtime: Any, hooks: Webhooks) -> None:
    announcement_id, sms = _sent_payment_sms(runtime)

    assert hooks.status(sms, "delivered").json() == {"moved": 1}
    for _ in range(2):
        assert hooks.status(sms, "delivered").json() == {"unchanged": 1}
        assert hooks.status(sms, "sent").json() == {"unchanged": 1}
        assert hooks.status(sms, "undelivered", "30003").status_code == 200

    [after] = deliveries(runtime, announcement_id)
    assert after.state == "delivered" and after.delivered_at is not None
    assert events(runtime, sms.id)[-1] == ("sent", "delivered", "delivered")
    assert [e for e in events(runtime, sms.id) if e[1] == "delivered"] == [
        ("sent", "delivered", "delivered")
    ]
    assert hooks.queued == []


def test_undelivered_sms_falls_back_to_email_once(runtime: Any, hooks: Webhooks) -> None:
    announcement_id, sms = _sent_payment_sms(runtime)

    for _ in range(2):  # Twilio may call twice; the second changes nothing
        assert hooks.status(sms, "undelivered", "30003").status_code == 200

    rows = deliveries(runtime, announcement_id)
    failed = one(rows, channel="sms")
    fallback = one(rows, channel="email")
    assert (failed.state, failed.error_code) == ("undelivered", "30003")
    assert "unreachable destination handset" in (failed.error_reason or "")
    assert (fallback.kind, fallback.fallback_of, fallback.state) == ("fallback", sms.id, "pending")
    assert [(w.actor_name, w.object_id) for w in hooks.queued] == [("deliver_normal", fallback.id)]
    assert events(runtime, sms.id)[-1] == ("sent", "undelivered", "30003")


def test_failed_while_still_sending_is_failed_and_records_the_message(
    runtime: Any, hooks: Webhooks
) -> None:
    import_roster(runtime, [row()])
    announcement_id = create(runtime, "payment_request", variables=PAYMENT_VARS, now=TUESDAY_10AM)
    plan(runtime, announcement_id, now=TUESDAY_10AM)
    sms = one(deliveries(runtime, announcement_id), channel="sms")
    from dispatcher.store.deliveries import claim_delivery

    with runtime.sessions() as session:  # a worker claimed it and has not recorded a receipt
        assert claim_delivery(session, sms.id, TUESDAY_10AM)
        session.commit()

    assert hooks.status(sms, "failed", "30008").json() == {"moved": 1}
    rows = deliveries(runtime, announcement_id)
    assert one(rows, channel="sms").state == "failed"
    assert one(rows, channel="email").kind == "fallback"


def test_stop_then_start_and_routing_honours_the_opt_out_where_allowed(
    runtime: Any, hooks: Webhooks
) -> None:
    # a parent with only a mobile: newsletters reach them by a one-segment text
    import_roster(runtime, [row(email="")])
    phone = "+447700900001"

    assert hooks.inbound(phone, "Stop", "SM" + "a" * 32).status_code == 200
    assert hooks.inbound(phone, "Stop", "SM" + "a" * 32).status_code == 200  # replayed
    with runtime.sessions() as session:
        assert session.get(SmsOptOut, phone) is not None
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1

    newsletter = create(runtime, "newsletter", variables=NEWSLETTER_VARS, now=TUESDAY_10AM)
    assert plan(runtime, newsletter, now=TUESDAY_10AM) == []
    with runtime.sessions() as session:
        outcome = session.scalar(
            select(PlanOutcome).where(PlanOutcome.announcement_id == newsletter)
        )
        assert (outcome.outcome, outcome.reason) == ("excluded", "sms_opted_out")
    # an emergency closure is not texted to a number that said STOP either (decision 0065):
    # with no other channel the parent is left for the office to phone, not excluded
    closure = create(runtime, now=TUESDAY_10AM)
    assert plan(runtime, closure, now=TUESDAY_10AM) == []
    with runtime.sessions() as session:
        outcome = session.scalar(select(PlanOutcome).where(PlanOutcome.announcement_id == closure))
        assert (outcome.outcome, outcome.reason) == (
            "unreachable",
            "no_channel: texted STOP, no email, no app",
        )

    assert hooks.inbound(phone, "START", "SM" + "b" * 32).status_code == 200
    with runtime.sessions() as session:
        assert session.get(SmsOptOut, phone) is None
    again = create(runtime, "newsletter", variables=NEWSLETTER_VARS, now=TUESDAY_10AM)
    plan(runtime, again, now=TUESDAY_10AM)
    assert [d.channel for d in deliveries(runtime, again)] == ["sms"]


def test_a_reply_is_kept_against_the_latest_text_and_shown_in_the_report(
    runtime: Any, hooks: Webhooks
) -> None:
    announcement_id, sms = _sent_payment_sms(runtime)

    response = hooks.inbound("+447700900001", "Paid this morning, thanks", "SM" + "c" * 32)

    assert response.status_code == 200 and "<Response" in response.text
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)
        with_sid = session.scalar(select(InboundMessage))
        assert (with_sid.kind, with_sid.delivery_id) == ("reply", sms.id)
    [reply] = report["replies"]
    assert reply["body"] == "Paid this morning, thanks"
    assert (reply["contact_id"], reply["phone"]) == ("C1", "+447700900001")


def test_inbound_with_a_bad_signature_records_nothing(runtime: Any, hooks: Webhooks) -> None:
    import_roster(runtime, [row()])
    response = hooks.inbound("+447700900001", "STOP", "SM" + "d" * 32, token="wrong")
    assert response.status_code == 401
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SmsOptOut)) == 0
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_webhooks_without_their_secret_configured_refuse_with_the_variable_named(
    runtime: Any, hooks: Webhooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPATCHER_PUBLIC_BASE_URL")
    response = hooks.inbound("+447700900001", "STOP", "SM" + "e" * 32)
    assert response.status_code == 503
    [item] = response.json()["detail"]
    assert item["field"] == "env.DISPATCHER_PUBLIC_BASE_URL"
