"""Fallback after a failure, at send time or reported later by the provider: the next
channel once, never a second copy on a channel already used, SMS after a bounced email only
where the category deserves it and the number was not already texted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dispatcher.channels.base import DeadTokenFailure, PermanentFailure
from dispatcher.domain import Channel
from dispatcher.reporting.reports import announcement_report
from dispatcher.store.models import Contact
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import (
    TUESDAY_10AM,
    RefusingAdapter,
    deliveries,
    one,
    report_status,
    send,
    with_adapter,
)

PAYMENT_VARS = {
    "item": "Year 6 residential",
    "amount": "£45.00",
    "due_date": "1 December",
    "payment_link": "https://pay.example/x",
}
TRIP_VARS = {
    "trip": "Paris",
    "date": "12 March",
    "cost": "£320",
    "reply_by": "Friday",
    "letter_url": "https://demo-primary.example/paris",
}


def report(runtime: Any, announcement_id: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        return announcement_report(session, announcement_id)


def test_an_undelivered_emergency_text_is_covered_by_the_email_back_up_not_a_second_email(
    runtime: Any,
) -> None:
    import_roster(runtime, [row()])
    announcement_id = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    sms = one(deliveries(runtime, announcement_id), channel="sms")

    assert report_status(runtime, sms, "undelivered", "30003") == []

    rows = deliveries(runtime, announcement_id)
    assert sorted((d.channel, d.kind, d.state) for d in rows) == [
        ("email", "backup", "sent"),
        ("sms", "primary", "undelivered"),
    ]
    assert report(runtime, announcement_id)["not_reached"] == []


def test_an_undelivered_emergency_text_falls_back_to_the_app_when_there_is_one(
    runtime: Any,
) -> None:
    import_roster(runtime, [row(push_token="app-token-1")])
    announcement_id = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    sms = one(deliveries(runtime, announcement_id), channel="sms")

    queued = report_status(runtime, sms, "undelivered", "30005")
    assert report_status(runtime, sms, "undelivered", "30005") == []  # replayed: nothing more

    push = one(deliveries(runtime, announcement_id), channel="push")
    assert (push.kind, push.fallback_of, push.fallback_chain) == ("fallback", sms.id, "")
    assert [(w.actor_name, w.object_id) for w in queued] == [("deliver_urgent", push.id)]


def test_a_text_refused_for_stop_at_send_time_falls_back_to_one_email(runtime: Any) -> None:
    import_roster(runtime, [row()])
    adapter = RefusingAdapter({Channel.SMS: PermanentFailure("21610", "unsubscribed")})
    refusing = with_adapter(runtime, adapter)
    announcement_id = create(runtime, "payment_request", variables=PAYMENT_VARS, now=TUESDAY_10AM)

    send(refusing, plan(refusing, announcement_id, now=TUESDAY_10AM))

    rows = deliveries(runtime, announcement_id)
    sms, email = one(rows, channel="sms"), one(rows, channel="email")
    assert (sms.state, sms.error_code) == ("failed", "21610")
    assert (email.kind, email.fallback_of, email.state) == ("fallback", sms.id, "sent")
    assert [(m.channel, m.to) for m in adapter.sent] == [(Channel.EMAIL, "anne@example.com")]


def test_a_bounced_email_falls_back_to_a_text_unless_that_number_was_already_texted(
    runtime: Any,
) -> None:
    # two carers of one pupil sharing one mobile, each with their own email
    import_roster(
        runtime,
        [
            row(contact_id="C1", email="one@example.com"),
            row(contact_id="C2", contact_first_name="Bo", email="two@example.com"),
        ],
    )
    announcement_id = create(runtime, "trip_letter", variables=TRIP_VARS, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    first, second = (d for d in deliveries(runtime, announcement_id) if d.channel == "email")

    queued = report_status(runtime, first, "bounce", "5.1.1")
    assert report_status(runtime, second, "bounce", "5.1.1") == []

    texts = [d for d in deliveries(runtime, announcement_id) if d.channel == "sms"]
    assert [(d.contact_id, d.kind, d.fallback_of) for d in texts] == [
        (first.contact_id, "fallback", first.id)
    ]
    assert [w.object_id for w in queued] == [texts[0].id]
    send(runtime, queued)
    [person] = report(runtime, announcement_id)["not_reached"]
    # the second carer's email failed; the shared phone got the text: the family was reached
    assert (person["contact_id"], person["family_reached"]) == ("C2", True)


def test_a_bounced_newsletter_is_not_followed_by_a_text(runtime: Any) -> None:
    import_roster(runtime, [row()])
    announcement_id = create(
        runtime,
        "newsletter",
        variables={"title": "News", "url": "https://demo-primary.example/n"},
        now=TUESDAY_10AM,
    )
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    email = one(deliveries(runtime, announcement_id), channel="email")

    assert report_status(runtime, email, "bounce", "5.1.1") == []
    assert [d.channel for d in deliveries(runtime, announcement_id)] == ["email"]


def test_a_dead_app_token_is_never_used_again_and_the_message_falls_back(runtime: Any) -> None:
    import_roster(runtime, [row(mobile="", push_token="app-token-2")])
    adapter = RefusingAdapter({Channel.PUSH: DeadTokenFailure("UNREGISTERED", "app removed")})
    refusing = with_adapter(runtime, adapter)
    announcement_id = create(runtime, "payment_request", variables=PAYMENT_VARS, now=TUESDAY_10AM)

    send(refusing, plan(refusing, announcement_id, now=TUESDAY_10AM))

    rows = deliveries(runtime, announcement_id)
    assert one(rows, channel="push").state == "failed"
    assert one(rows, channel="email").kind == "fallback"
    with runtime.sessions() as session:
        assert session.scalar(select(Contact.push_token_dead)) is True
    later = create(runtime, "payment_request", variables=PAYMENT_VARS, now=TUESDAY_10AM)
    plan(runtime, later, now=TUESDAY_10AM)
    assert [d.channel for d in deliveries(runtime, later)] == ["email"]


def test_with_every_channel_failed_the_contact_is_not_reached_with_the_numbers_to_try(
    runtime: Any,
) -> None:
    import_roster(
        runtime,
        [
            row(),
            # a second carer of the same pupil, reached by email: their number is shown too
            row(contact_id="C2", contact_first_name="Al", mobile="07700 900002", email="al@x.org"),
        ],
    )
    announcement_id = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    rows = [
        d for d in deliveries(runtime, announcement_id) if d.contact_id == rows_contact(runtime)
    ]
    assert len(rows) == 2  # C1's text and its email back-up
    for delivery in rows:
        status, code = (
            ("undelivered", "30003") if delivery.channel == "sms" else ("bounce", "5.1.1")
        )
        report_status(runtime, delivery, status, code)

    [person] = report(runtime, announcement_id)["not_reached"]
    assert (person["contact_id"], person["phone"]) == ("C1", "+447700900001")
    assert person["other_phones"] == "+447700900002"
    assert person["family_reached"] is True
    assert "sms undelivered (30003)" in person["reason"]
    assert "email bounced (5.1.1)" in person["reason"]


def rows_contact(runtime: Any) -> int:
    """The database id of roster contact C1."""
    with runtime.sessions() as session:
        return int(session.scalar(select(Contact.id).where(Contact.external_id == "C1")) or 0)
