"""SendGrid Event Webhook: signed batches (ECDSA, verified with the sendgrid SDK's
EventWebhook) move each delivery to the right state, once; bounces and drops fall back to
SMS for normal categories and not for bulk ones."""

from __future__ import annotations

from typing import Any

from dispatcher.reporting.reports import announcement_report
from emulator.signing import EmulatorKeys
from tests.support.factories import create, import_roster, many_families, plan
from tests.support.tracking import (
    NEWSLETTER_VARS,
    TUESDAY_10AM,
    Webhooks,
    deliveries,
    events,
    one,
    send,
)

TRIP_VARS = {
    "trip": "Paris",
    "date": "12 March",
    "cost": "£320",
    "reply_by": "Friday",
    "letter_url": "https://demo-primary.example/paris",
}


def event(delivery: Any, name: str, **extra: Any) -> dict[str, Any]:
    """An event as SendGrid posts it, with our custom args at the top level."""
    return {
        "email": f"parent{delivery.contact_id}@example.com",
        "timestamp": int(TUESDAY_10AM.timestamp()) + 60,
        "event": name,
        "sg_event_id": f"evt-{delivery.id}-{name}",
        "sg_message_id": f"msg{delivery.id}.filterdrecv-1.0",
        "delivery_id": str(delivery.id),
        "announcement_id": str(delivery.announcement_id),
        **extra,
    }


def _sent_trip_letters(runtime: Any, n: int = 3) -> tuple[int, list[Any]]:
    import_roster(runtime, many_families(n))
    announcement_id = create(runtime, "trip_letter", variables=TRIP_VARS, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    emails = [d for d in deliveries(runtime, announcement_id) if d.channel == "email"]
    assert [d.state for d in emails] == ["sent"] * n
    return announcement_id, emails


def test_a_mixed_batch_moves_each_delivery_to_its_state_once(runtime: Any, hooks: Webhooks) -> None:
    announcement_id, (ok, bounced, dropped) = _sent_trip_letters(runtime)
    batch = [
        event(ok, "processed"),
        event(ok, "delivered"),
        event(bounced, "bounce", type="bounce", status="5.1.1", reason="550 unknown user"),
        event(dropped, "dropped", reason="Bounced Address"),
        {"event": "delivered", "email": "someone@else.example"},  # not ours: ignored
    ]

    first = hooks.sendgrid(batch)
    assert first.status_code == 200
    assert first.json() == {"unchanged": 1, "moved": 3, "ignored": 1}
    rows = deliveries(runtime, announcement_id)
    by_id = {d.id: d for d in rows}
    assert by_id[ok.id].state == "delivered" and by_id[ok.id].delivered_at is not None
    assert (by_id[bounced.id].state, by_id[bounced.id].error_code) == ("bounced", "5.1.1")
    assert (by_id[dropped.id].state, by_id[dropped.id].error_code) == ("undelivered", "dropped")
    # a trip letter is a normal category: a failed email falls back to a text, once each
    texts = [d for d in rows if d.channel == "sms"]
    assert sorted((d.fallback_of, d.kind) for d in texts) == [
        (bounced.id, "fallback"),
        (dropped.id, "fallback"),
    ]
    assert sorted(w.object_id for w in hooks.queued) == sorted(d.id for d in texts)

    # the same batch again, then in reverse order: nothing moves, nothing more is queued
    queued = list(hooks.queued)
    assert hooks.sendgrid(batch).json() == {"unchanged": 4, "ignored": 1}
    assert hooks.sendgrid(list(reversed(batch))).json() == {"unchanged": 4, "ignored": 1}
    assert [(d.id, d.state) for d in deliveries(runtime, announcement_id)] == [
        (d.id, d.state) for d in rows
    ]
    assert hooks.queued == queued
    assert events(runtime, ok.id)[-1] == ("sent", "delivered", "delivered")


def test_a_batch_with_a_bad_signature_is_refused_and_changes_nothing(
    runtime: Any, hooks: Webhooks
) -> None:
    announcement_id, (first, *_) = _sent_trip_letters(runtime, 1)

    forged = hooks.sendgrid([event(first, "bounce")], keys=EmulatorKeys())
    unsigned = hooks.client.post("/webhooks/sendgrid/events", json=[event(first, "bounce")])

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert [d.state for d in deliveries(runtime, announcement_id)] == ["sent"]
    assert hooks.queued == []


def test_a_bounced_newsletter_does_not_fall_back_to_a_paid_text(
    runtime: Any, hooks: Webhooks
) -> None:
    import_roster(runtime, many_families(1))
    announcement_id = create(runtime, "newsletter", variables=NEWSLETTER_VARS, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    email = one(deliveries(runtime, announcement_id), channel="email")

    assert hooks.sendgrid([event(email, "bounce", status="5.1.1")]).json() == {"moved": 1}

    assert [d.channel for d in deliveries(runtime, announcement_id)] == ["email"]
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)
    [person] = report["not_reached"]
    assert (person["contact_id"], person["phone"]) == ("C0", "+447700900000")


def test_a_batch_that_is_not_a_list_is_a_clear_error(runtime: Any, hooks: Webhooks) -> None:
    response = hooks.client.post(
        "/webhooks/sendgrid/events",
        content='{"event": "delivered"}',
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": hooks.keys.sign_sendgrid_payload(
                "1", '{"event": "delivered"}'
            ),
            "X-Twilio-Email-Event-Webhook-Timestamp": "1",
        },
    )
    assert response.status_code == 400
    assert response.json()["detail"] == [
        {"field": "body", "message": "expected a JSON array of events"}
    ]
