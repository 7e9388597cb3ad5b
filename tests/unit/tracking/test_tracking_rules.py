"""The pure rules of delivery tracking: provider words to states, inbound keywords, which
channel a fallback takes, SMS opt-outs in routing, and the webhook key setting."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Unpack

import pytest

from dispatcher.channels.registry import report_vocabulary
from dispatcher.channels.settings import ProviderSettingsError, load_provider_settings
from dispatcher.channels.twilio_webhooks import keyword_of
from dispatcher.config.configuration import load_configuration
from dispatcher.delivery.fallback import first_usable, next_channels
from dispatcher.domain import Channel, ContactProfile, DeliveryState, StudentLink, Urgency
from dispatcher.planning.routing import EXCLUDED_SMS_OPTED_OUT, route_contact
from dispatcher.reporting.metrics import histogram_buckets
from dispatcher.tracking.inbound import InboundKind, classify_inbound
from dispatcher.tracking.statuses import event_time
from emulator.signing import EmulatorKeys
from tests.support.contacts import ContactChanges
from tests.support.paths import CONFIG_DIR

CONFIG = load_configuration(CONFIG_DIR)
DEMO = CONFIG.school("demo")
LANGUAGES = frozenset({"en"})
S = DeliveryState


@pytest.mark.parametrize(
    ("provider", "word", "states"),
    [
        ("twilio", "sent", (S.SENT,)),
        ("twilio", "delivered", (S.DELIVERED,)),
        ("twilio", "undelivered", (S.UNDELIVERED,)),
        ("twilio", "failed", (S.FAILED, S.UNDELIVERED)),
        ("twilio", "queued", ()),
        ("twilio", "sending", ()),
        ("sendgrid", "processed", (S.SENT,)),
        ("sendgrid", "delivered", (S.DELIVERED,)),
        ("sendgrid", "open", (S.DELIVERED,)),
        ("sendgrid", "bounce", (S.BOUNCED,)),
        ("sendgrid", "dropped", (S.FAILED, S.UNDELIVERED)),
        ("sendgrid", "deferred", ()),
        ("sendgrid", "spamreport", ()),
    ],
)
def test_provider_words_map_to_states(
    provider: str, word: str, states: tuple[DeliveryState, ...]
) -> None:
    vocabulary = report_vocabulary(provider)
    assert vocabulary is not None
    assert vocabulary.targets(word) == states


def test_a_provider_timestamp_is_used_unless_it_is_in_the_future() -> None:
    received = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    earlier = received - timedelta(seconds=40)
    assert event_time(earlier, received) == earlier
    assert event_time(received + timedelta(hours=1), received) == received
    assert event_time(None, received) == received


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", InboundKind.STOP),
        (" stop. ", InboundKind.STOP),
        ("Unsubscribe", InboundKind.STOP),
        ("start", InboundKind.START),
        ("UNSTOP!", InboundKind.START),
        ("Stop sending me these please", InboundKind.REPLY),
        ("Is school open tomorrow?", InboundKind.REPLY),
        ("", InboundKind.REPLY),
        ("Yes", InboundKind.REPLY),  # a consent reply, unless the number had opted out
    ],
)
def test_inbound_keywords_are_whole_messages(body: str, kind: InboundKind) -> None:
    assert classify_inbound(keyword_of(body)) is kind


def test_yes_opts_back_in_only_a_number_that_opted_out() -> None:
    assert classify_inbound(keyword_of("yes"), opted_out=True) is InboundKind.START
    assert classify_inbound(keyword_of("yes"), opted_out=False) is InboundKind.REPLY


def test_after_an_email_fails_sms_is_tried_for_urgent_and_normal_but_never_for_bulk() -> None:
    assert next_channels(Channel.EMAIL, (), Urgency.URGENT) == (Channel.SMS,)
    assert next_channels(Channel.EMAIL, (Channel.PUSH,), Urgency.NORMAL) == (
        Channel.PUSH,
        Channel.SMS,
    )
    assert next_channels(Channel.EMAIL, (Channel.PUSH, Channel.SMS), Urgency.BULK) == (
        Channel.PUSH,
    )
    assert next_channels(Channel.SMS, (Channel.PUSH, Channel.EMAIL), Urgency.URGENT) == (
        Channel.PUSH,
        Channel.EMAIL,
    )


def test_a_fallback_skips_used_unreceivable_and_unoffered_channels() -> None:
    chain = (Channel.PUSH, Channel.EMAIL, Channel.SMS)
    everything = set(Channel)
    assert first_usable(chain, {Channel.PUSH}, everything, everything) == (
        Channel.EMAIL,
        (Channel.SMS,),
    )
    assert first_usable(chain, {Channel.EMAIL}, {Channel.SMS, Channel.EMAIL}, everything) == (
        Channel.SMS,
        (),
    )
    assert first_usable(chain, set(), everything, {Channel.SMS}) == (Channel.SMS, ())
    assert first_usable(chain, set(chain), everything, everything) == (None, ())


TEXTER = ContactProfile(
    contact_id=1,
    links=(StudentLink(10, 1, True, False),),
    sms_number="+447700900123",
    has_phone=True,
    email=None,
    sms_opted_out=True,
)


def _texter(**changes: Unpack[ContactChanges]) -> ContactProfile:
    return dataclasses.replace(TEXTER, **changes)


def test_an_sms_opt_out_is_never_texted_and_excludes_only_where_opting_out_is_allowed() -> None:
    newsletter = CONFIG.policy.category("newsletter")
    closure = CONFIG.policy.category("emergency_closure")

    only_texts = route_contact(newsletter, DEMO, _texter(), LANGUAGES)
    assert (only_texts.excluded_reason, only_texts.deliveries) == (EXCLUDED_SMS_OPTED_OUT, ())
    with_email = route_contact(newsletter, DEMO, _texter(email="a@example.com"), LANGUAGES)
    assert [d.channel for d in with_email.deliveries] == [Channel.EMAIL]
    assert with_email.deliveries[0].fallback_chain == ()
    # An emergency is not texted to a number that said STOP either (decision 0065): it goes
    # by email, and a family with nothing else is left for the office to phone.
    closure_by_email = route_contact(closure, DEMO, _texter(email="a@example.com"), LANGUAGES)
    assert [(d.channel, d.kind.value) for d in closure_by_email.deliveries] == [
        (Channel.EMAIL, "primary")
    ]
    closure_texts_only = route_contact(closure, DEMO, _texter(), LANGUAGES)
    assert closure_texts_only.deliveries == ()
    assert closure_texts_only.excluded_reason is None
    assert closure_texts_only.unreachable_reason == "no_channel: texted STOP, no email, no app"
    not_opted = route_contact(newsletter, DEMO, _texter(sms_opted_out=False), LANGUAGES)
    assert [d.channel for d in not_opted.deliveries] == [Channel.SMS]


def test_histogram_buckets_are_cumulative() -> None:
    assert histogram_buckets([0.2, 0.7, 3.0], (0.5, 1.0)) == [
        ("0.5", 1.0),
        ("1.0", 2.0),
        ("+Inf", 3.0),
    ]


def test_the_sendgrid_webhook_key_must_be_an_ecdsa_key_and_the_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = EmulatorKeys().sendgrid_public_key()
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", key)
    assert load_provider_settings().sendgrid_webhook_public_key == key
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key-but-secretish")
    with pytest.raises(ProviderSettingsError) as raised:
        load_provider_settings()
    assert str(raised.value).startswith("SENDGRID_WEBHOOK_PUBLIC_KEY:")
    assert "not-a-key" not in str(raised.value)
