"""Reading verified provider webhooks into reports (pure): Twilio's status callbacks and
inbound texts, SendGrid's event batches. A request we cannot read names the field."""

from __future__ import annotations

import json

import pytest

from dispatcher.channels import sendgrid_webhooks, twilio_webhooks
from dispatcher.channels.registry import report_vocabulary
from dispatcher.channels.reports import Keyword, ProviderStatus, WebhookError
from dispatcher.domain import Channel, DeliveryState


def test_a_twilio_status_callback_is_a_report_on_our_delivery() -> None:
    report = twilio_webhooks.status_report(
        {"MessageStatus": "undelivered", "MessageSid": "SM" + "a" * 32, "ErrorCode": "30003"},
        "42",
    )
    assert report == ProviderStatus(
        provider="twilio",
        status="undelivered",
        delivery_id=42,
        provider_message_id="SM" + "a" * 32,
        code="30003",
    )
    assert twilio_webhooks.TWILIO_REPORTS.describe(report) == (
        "twilio undelivered: unreachable destination handset"
    )


@pytest.mark.parametrize(
    ("params", "delivery_id", "field"),
    [
        ({"MessageStatus": "sent"}, "4x", "delivery_id"),
        ({"MessageStatus": "sent"}, "9" * 23, "delivery_id"),
        ({"MessageStatus": "sent"}, str(2**63), "delivery_id"),
        ({"MessageStatus": "sent"}, "²", "delivery_id"),  # a digit to str.isdigit, not to int
        ({"MessageStatus": "sent"}, "", "delivery_id"),
        ({"MessageSid": "SM1"}, "4", "MessageStatus"),
        ({"MessageStatus": "failed", "ErrorCode": "30\x0003"}, "4", "ErrorCode"),
    ],
)
def test_an_unreadable_twilio_callback_names_the_field(
    params: dict[str, str], delivery_id: str, field: str
) -> None:
    with pytest.raises(WebhookError) as caught:
        twilio_webhooks.status_report(params, delivery_id)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop. ", Keyword.STOP),
        ("UNSTOP!", Keyword.START),
        ("yes", Keyword.START_IF_OPTED_OUT),
        ("Stop sending me these please", Keyword.NONE),
    ],
)
def test_an_inbound_text_carries_what_twilio_makes_of_it(body: str, keyword: Keyword) -> None:
    text = twilio_webhooks.inbound_text({"From": "+447700900123", "Body": body})
    assert (text.from_phone, text.body, text.keyword) == ("+447700900123", body, keyword)
    with pytest.raises(WebhookError):
        twilio_webhooks.inbound_text({"Body": body})


def test_a_sendgrid_batch_reports_our_events_and_counts_the_others() -> None:
    payload = json.dumps(
        [
            {"event": "bounce", "delivery_id": "7", "status": "5.1.1", "timestamp": 1_800_000_000},
            {"event": "delivered", "delivery_id": 8, "sg_message_id": "abc.filter0001"},
            {"event": "open"},  # names no delivery of ours
            "not an event",
        ]
    )
    reports, ignored = sendgrid_webhooks.event_reports(payload)
    assert [(r.delivery_id, r.status, r.code) for r in reports] == [
        (7, "bounce", "5.1.1"),
        (8, "delivered", None),
    ]
    assert reports[0].reported_at is not None
    assert ignored == 2
    with pytest.raises(WebhookError) as caught:
        sendgrid_webhooks.event_reports('{"event": "open"}')
    assert caught.value.field == "body"


def test_the_largest_delivery_id_is_read() -> None:
    report = twilio_webhooks.status_report({"MessageStatus": "sent"}, str(2**63 - 1))
    assert report.delivery_id == 2**63 - 1


@pytest.mark.parametrize(
    "bad",
    [
        {"delivery_id": "1" * 30},
        {"delivery_id": 10**30},
        {"delivery_id": True},
        {"delivery_id": "٣"},  # an Arabic-Indic digit
        {"delivery_id": 7.0},
        {"reason": "nul\x00byte"},
    ],
)
def test_a_sendgrid_event_naming_no_possible_delivery_is_ignored(bad: dict[str, object]) -> None:
    payload = json.dumps([{"event": "delivered", "delivery_id": "7", **bad}])
    assert sendgrid_webhooks.event_reports(payload) == ([], 1)


@pytest.mark.parametrize("timestamp", [1e300, -1, 0, float("inf"), float("nan"), True, "soon"])
def test_a_sendgrid_timestamp_no_clock_shows_is_not_believed(timestamp: object) -> None:
    payload = json.dumps([{"event": "delivered", "delivery_id": "7", "timestamp": timestamp}])
    [report], ignored = sendgrid_webhooks.event_reports(payload)
    assert (report.delivery_id, report.reported_at, ignored) == (7, None, 0)


def test_a_sendgrid_body_nested_too_deep_is_unreadable() -> None:
    with pytest.raises(WebhookError) as caught:
        sendgrid_webhooks.event_reports("[" * 5000 + "]" * 5000)
    assert caught.value.field == "body"


def test_sendgrid_message_ids_are_matched_on_their_first_part() -> None:
    vocabulary = sendgrid_webhooks.SENDGRID_REPORTS
    assert vocabulary.stored_message_id("abc.filter0001.x", 8) == "abc.8"
    assert vocabulary.same_message("abc.8", "abc.filter0001")
    assert not vocabulary.same_message("abc.8", "xyz.filter0001")
    assert not vocabulary.find_by_message_id


def test_the_registry_knows_each_reporting_provider_and_its_channel() -> None:
    twilio, sendgrid = report_vocabulary("twilio"), report_vocabulary("sendgrid")
    assert twilio is not None and sendgrid is not None
    assert (twilio.channel, sendgrid.channel) == (Channel.SMS, Channel.EMAIL)
    assert twilio.targets(" Delivered ") == (DeliveryState.DELIVERED,)
    assert report_vocabulary("fcm") is None
