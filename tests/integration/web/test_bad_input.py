"""Bad input to the provider webhooks never gives a 5xx and changes nothing: signed
callbacks with numbers no delivery can have or timestamps no clock can show, bodies that are
not UTF-8 or nested 5,000 deep; every refusal in the API's error shape. (The same for the
API: test_api_announcements.py; for the MIS webhook: test_mis_webhooks.py.)"""

from __future__ import annotations

from typing import Any

from tests.integration.web.test_sendgrid_webhooks import _sent_trip_letters, event
from tests.integration.web.test_twilio_webhooks import _sent_payment_sms
from tests.support.tracking import TUESDAY_10AM, Webhooks, deliveries, events

HUGE_ID = "9" * 23
DEEP_JSON = "[" * 5000 + "]" * 5000


def _one_error(response: Any) -> dict[str, str]:
    [item] = response.json()["detail"]
    assert set(item) == {"field", "message"}
    return dict(item)


def test_a_twilio_callback_for_a_delivery_id_too_big_to_exist_is_400(
    runtime: Any, hooks: Webhooks
) -> None:
    announcement_id, sms = _sent_payment_sms(runtime)
    before = events(runtime, sms.id)
    params = {"MessageSid": sms.provider_message_id or "", "MessageStatus": "undelivered"}

    for bad in (HUGE_ID, str(2**63), "-1", "1.0"):
        response = hooks.twilio(f"/webhooks/twilio/status?delivery_id={bad}", params)
        assert response.status_code == 400, (bad, response.text)
        assert _one_error(response)["field"] == "query.delivery_id"

    assert events(runtime, sms.id) == before
    assert [d.state for d in deliveries(runtime, announcement_id)] == ["sent"]
    assert hooks.queued == []


def test_a_twilio_callback_with_a_nul_byte_is_400(runtime: Any, hooks: Webhooks) -> None:
    _, sms = _sent_payment_sms(runtime)
    before = events(runtime, sms.id)

    response = hooks.status(sms, "undelivered", "300\x0003")

    assert response.status_code == 400
    assert _one_error(response)["field"] == "body.ErrorCode"
    assert events(runtime, sms.id) == before


def test_sendgrid_events_that_name_no_possible_delivery_are_ignored_the_rest_applied(
    runtime: Any, hooks: Webhooks
) -> None:
    """SendGrid retries a whole batch that was not answered 2xx for a day: one bad event
    must not hold back the good ones, so it is ignored (and counted) and the batch is 200."""
    _, (ok, late, other) = _sent_trip_letters(runtime)
    batch = [
        {**event(ok, "delivered"), "delivery_id": "1" * 30},
        {**event(ok, "delivered"), "delivery_id": int("1" * 30)},
        {**event(ok, "bounce"), "delivery_id": True},
        {**event(ok, "bounce"), "reason": "bad\x00reason"},
        event(late, "delivered", timestamp=1e300),
        event(other, "delivered", timestamp=float("inf")),
    ]

    response = hooks.sendgrid(batch)

    assert response.status_code == 200, response.text
    assert response.json() == {"moved": 2, "ignored": 4}
    states = {d.id: d.state for d in deliveries(runtime, ok.announcement_id)}
    assert (states[ok.id], states[late.id], states[other.id]) == ("sent", "delivered", "delivered")
    with runtime.sessions() as session:
        from dispatcher.store.models import Delivery

        delivered_at = session.get(Delivery, late.id).delivered_at
    # a timestamp no clock shows is not believed: the time we received it is used
    assert delivered_at is not None and delivered_at.year == TUESDAY_10AM.year
    assert hooks.queued == []


def test_a_sendgrid_batch_nested_5000_deep_or_not_utf8_is_400(
    runtime: Any, hooks: Webhooks
) -> None:
    deep = hooks.client.post(
        "/webhooks/sendgrid/events",
        content=DEEP_JSON,
        headers=_sendgrid_headers(hooks, DEEP_JSON),
    )
    latin1 = hooks.client.post(
        "/webhooks/sendgrid/events",
        content='[{"event": "delivered", "reason": "caf\xe9"}]'.encode("latin-1"),
        headers=_sendgrid_headers(hooks, "[]"),
    )

    assert (deep.status_code, latin1.status_code) == (400, 400)
    assert _one_error(deep)["field"] == _one_error(latin1)["field"] == "body"


def _sendgrid_headers(hooks: Webhooks, payload: str) -> dict[str, str]:
    timestamp = str(int(TUESDAY_10AM.timestamp()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": hooks.keys.sign_sendgrid_payload(
            timestamp, payload
        ),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def test_a_twilio_callback_whose_body_is_not_utf8_is_400(runtime: Any, hooks: Webhooks) -> None:
    _, sms = _sent_payment_sms(runtime)
    before = events(runtime, sms.id)

    response = hooks.client.post(
        f"/webhooks/twilio/status?delivery_id={sms.id}",
        content=b"MessageStatus=delivered&Body=caf\xe9",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "anything",
        },
    )

    assert response.status_code == 400
    assert _one_error(response)["field"] == "body"
    assert events(runtime, sms.id) == before
