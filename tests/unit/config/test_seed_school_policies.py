"""The five seed schools' config files keep the promises of their communication policies.

Each school's policy (``/work/shared/seeds/*.txt``, named in ``policy_source``) says which
messages go by text, by email and through the app. These tests load the real ``config/``
folder and route a fully reachable contact through every category, so that a change to
``config/policy.toml`` or to a school file that breaks a policy promise fails here, with the
school in the test id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import pytest

from dispatcher.config.configuration import Configuration, load_configuration
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel, ContactProfile, DeliveryKind, StudentLink
from dispatcher.planning.routing import RoutingDecision, route_contact
from tests.support.paths import CONFIG_DIR

ENGLISH = frozenset({"en"})

SMS, EMAIL, PUSH = Channel.SMS, Channel.EMAIL, Channel.PUSH

#: SENDAT's policy covers every school of the trust: its two member schools keep it.
SEED_SCHOOLS = (
    "three-dimensions",
    "westbourne",
    "trent-acres",
    "sendat-a",
    "sendat-b",
    "brockmoor",
)


@dataclass(frozen=True)
class Expected:
    """What a fully reachable contact gets: primary channel, fallback chain, email back-up."""

    primary: Channel
    fallback: tuple[Channel, ...]
    email_backup: bool = False


# Outcomes First Group (3 Dimensions, Westbourne, Trent Acres): "Text Messages - ... for
# important reminders and announcements"; "Email - for non-urgent queries, updates, and
# information sharing"; apps (Class Dojo at Westbourne and Trent Acres) "to share updates".
_OFG_NO_APP = {
    "emergency_closure": Expected(SMS, (EMAIL,), email_backup=True),
    "short_notice_change": Expected(SMS, (EMAIL,), email_backup=True),
    "payment_request": Expected(SMS, (EMAIL,)),
    "trip_letter": Expected(EMAIL, (SMS,)),
    "consent_request": Expected(EMAIL, (SMS,)),
    "term_dates": Expected(EMAIL, (SMS,)),
    "event_reminder": Expected(EMAIL, (SMS,)),
    "newsletter": Expected(EMAIL, (SMS,)),
    "survey": Expected(EMAIL, (SMS,)),
}
_OFG_WITH_APP = {
    "emergency_closure": Expected(SMS, (PUSH, EMAIL), email_backup=True),
    "short_notice_change": Expected(SMS, (PUSH, EMAIL), email_backup=True),
    "payment_request": Expected(SMS, (PUSH, EMAIL)),
    "trip_letter": Expected(EMAIL, (PUSH, SMS)),
    "consent_request": Expected(EMAIL, (PUSH, SMS)),
    "term_dates": Expected(EMAIL, (PUSH, SMS)),
    "event_reminder": Expected(EMAIL, (PUSH, SMS)),
    "newsletter": Expected(EMAIL, (PUSH, SMS)),
    "survey": Expected(EMAIL, (PUSH, SMS)),
}

EXPECTED: dict[str, dict[str, Expected]] = {
    "three-dimensions": _OFG_NO_APP,
    "westbourne": _OFG_WITH_APP,
    "trent-acres": _OFG_WITH_APP,
    "sendat-a": {
        # 3.2 "We will text parents/carers about: Payments, Short-notice changes to the school
        # day, Emergency school closures" + "We would usually also use email as a 'back-up'".
        "emergency_closure": Expected(SMS, (PUSH, EMAIL), email_backup=True),
        "short_notice_change": Expected(SMS, (PUSH, EMAIL), email_backup=True),
        "payment_request": Expected(SMS, (EMAIL, PUSH)),
        # 3.1 Email: events, scheduled closures (staff training days), surveys.
        "event_reminder": Expected(EMAIL, (PUSH, SMS)),
        "term_dates": Expected(EMAIL, (PUSH, SMS)),
        "survey": Expected(EMAIL, (PUSH, SMS)),
        # 3.5 Letters: trips, consent forms, newsletter; "Copies will usually be sent by email".
        "trip_letter": Expected(EMAIL, (PUSH, SMS)),
        "consent_request": Expected(EMAIL, (PUSH, SMS)),
        "newsletter": Expected(EMAIL, (PUSH, SMS)),
    },
    "brockmoor": {
        # 3.2 "We will text parents through our App about: Payments, Short-notice changes to
        # the school day, Emergency school closures": the app first, then SMS.
        "emergency_closure": Expected(PUSH, (SMS, EMAIL), email_backup=True),
        "short_notice_change": Expected(PUSH, (SMS, EMAIL), email_backup=True),
        "payment_request": Expected(PUSH, (SMS, EMAIL)),
        # 3.1 Email: events, scheduled closures (staff training days), surveys.
        "event_reminder": Expected(EMAIL, (PUSH, SMS)),
        "term_dates": Expected(EMAIL, (PUSH, SMS)),
        "survey": Expected(EMAIL, (PUSH, SMS)),
        # 3.5 Letters: trips, consent forms, the weekly newsletter Brockmoor Bugle.
        "trip_letter": Expected(EMAIL, (PUSH, SMS)),
        "consent_request": Expected(EMAIL, (PUSH, SMS)),
        "newsletter": Expected(EMAIL, (PUSH, SMS)),
    },
}

# Core school hours as each policy states them (SENDAT: "see individual schools' websites",
# so its file carries a documented placeholder).
CORE_HOURS = {
    "three-dimensions": ("8:00 AM – 4:00 PM", time(8, 0), time(16, 0)),
    "westbourne": ("8:00 AM – 4:00 PM", time(8, 0), time(16, 0)),
    "trent-acres": ("8:00 AM – 4:00 PM", time(8, 0), time(16, 0)),
    "sendat-a": ("see individual schools' websites (placeholder)", time(8, 30), time(15, 30)),
    "brockmoor": ("08:45 to 15:15", time(8, 45), time(15, 15)),
}

IDENTITY = {
    # slug: (trust, policy_source, mis, channels_enabled)
    "three-dimensions": ("outcomes-first-group", "000_f0a748f66c974d0d.txt", "isams", {SMS, EMAIL}),
    "westbourne": ("outcomes-first-group", "001_063a0a25104cda9c.txt", "", {SMS, EMAIL, PUSH}),
    "trent-acres": (
        "outcomes-first-group",
        "002_9ad843021ff256b2.txt",
        "isams",
        {SMS, EMAIL, PUSH},
    ),
    "sendat-a": ("sendat", "003_bf10c6f7d66eb103.txt", "arbor", {SMS, EMAIL, PUSH}),
    "brockmoor": ("dudley-la", "004_5045fb31edd77519.txt", "", {SMS, EMAIL, PUSH}),
}
EXPECTED["sendat-b"] = EXPECTED["sendat-a"]
CORE_HOURS["sendat-b"] = CORE_HOURS["sendat-a"]
IDENTITY["sendat-b"] = IDENTITY["sendat-a"]


@pytest.fixture(scope="module")
def config() -> Configuration:
    return load_configuration(CONFIG_DIR)


def contact(
    *, sms: bool = True, email: bool = True, push: bool = True, contact_id: int = 1
) -> ContactProfile:
    """A first contact with parental responsibility and no needs, reachable as asked."""
    return ContactProfile(
        contact_id=contact_id,
        links=(
            StudentLink(student_id=10, priority=1, parental_responsibility=True, no_contact=False),
        ),
        sms_number="+447700900123" if sms else None,
        has_phone=sms,
        email="parent@example.org" if email else None,
        push_token="push-token-1" if push else None,
    )


def route(config: Configuration, slug: str, category: str, who: ContactProfile) -> RoutingDecision:
    return route_contact(
        config.policy.category(category), config.school(slug), who, available_languages=ENGLISH
    )


ROUTING_CASES = [
    pytest.param(slug, category, expected, id=f"{slug}-{category}")
    for slug, table in EXPECTED.items()
    for category, expected in table.items()
]


def test_every_seed_school_has_a_full_expectation_table(config: Configuration) -> None:
    assert set(EXPECTED) == set(SEED_SCHOOLS)
    for slug in SEED_SCHOOLS:
        assert slug in config.schools, slug
        assert set(EXPECTED[slug]) == set(config.policy.categories), slug


@pytest.mark.parametrize(("slug", "category", "expected"), ROUTING_CASES)
def test_fully_reachable_contact_gets_the_channels_the_policy_promises(
    config: Configuration, slug: str, category: str, expected: Expected
) -> None:
    decision = route(config, slug, category, contact())

    assert decision.excluded_reason is None
    assert decision.unreachable_reason is None
    primary = decision.deliveries[0]
    assert primary.kind is DeliveryKind.PRIMARY
    assert primary.channel is expected.primary
    assert primary.fallback_chain == expected.fallback
    assert primary.language == "en"
    backups = [d for d in decision.deliveries if d.kind is DeliveryKind.BACKUP]
    if expected.email_backup:
        assert [d.channel for d in backups] == [EMAIL]
    else:
        assert backups == []
    assert len(decision.deliveries) == (2 if expected.email_backup else 1)


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", ["event_reminder", "term_dates", "trip_letter", "newsletter"])
def test_a_family_with_no_email_still_gets_email_first_messages(
    config: Configuration, slug: str, category: str
) -> None:
    """Families with no email get the message by a channel they can use (SMS or the app)."""
    decision = route(config, slug, category, contact(email=False))
    assert decision.reachable
    assert decision.deliveries[0].channel in {SMS, PUSH}
    assert EMAIL not in {d.channel for d in decision.deliveries}
    assert EMAIL not in decision.deliveries[0].fallback_chain

    text_only = route(config, slug, category, contact(email=False, push=False))
    assert [d.channel for d in text_only.deliveries] == [SMS]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", ["emergency_closure", "short_notice_change"])
def test_urgent_messages_reach_a_family_without_a_mobile_by_email(
    config: Configuration, slug: str, category: str
) -> None:
    decision = route(config, slug, category, contact(sms=False, push=False))
    assert [(d.channel, d.kind) for d in decision.deliveries] == [(EMAIL, DeliveryKind.PRIMARY)]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
def test_core_hours_match_the_policy(config: Configuration, slug: str) -> None:
    wording, start, end = CORE_HOURS[slug]
    school = config.school(slug)
    assert (school.core_hours.start, school.core_hours.end) == (start, end), wording


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
def test_send_window_is_school_days_within_bounds(config: Configuration, slug: str) -> None:
    window = config.school(slug).send_window
    assert time(7, 30) <= window.start < window.end <= time(20, 0)
    assert set(window.days) == {"mon", "tue", "wed", "thu", "fri"}


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
def test_identity_follows_the_policy(config: Configuration, slug: str) -> None:
    trust, source, mis, channels = IDENTITY[slug]
    school: SchoolConfig = config.school(slug)
    assert school.trust == trust
    assert school.policy_source == source
    assert school.mis == mis
    assert set(school.channels_enabled) == channels
    assert school.timezone == "Europe/London"
    assert school.default_language == "en"
    assert "en" in school.languages
    assert school.sender_id.isascii() and school.sender_id.isalnum()
    assert len(school.sender_id) <= 11
    assert "@" in school.from_email


def test_contact_details_are_the_policies_own(config: Configuration) -> None:
    details = {
        slug: (s.phone, s.from_email, s.website)
        for slug, s in config.schools.items()
        if slug in SEED_SCHOOLS
    }
    assert details["three-dimensions"] == (
        "01460 65611",
        "schooladmin@3dimensions.org.uk",
        "https://www.3dimensions.org.uk/",
    )
    assert details["westbourne"] == (
        "01623 392430",
        "info@westbourneschool.org",
        "https://www.westbourneschool.org",  # the policy's http link, sent as https
    )
    assert details["brockmoor"][:2] == ("01384 816635", "info@brockmoor.dudley.sch.uk")
    assert details["trent-acres"][0] == "01543 473772"
    # Trent Acres publishes no email address: a reserved, undeliverable placeholder stands in
    # (never a guessed real mailbox) and no reply address is offered.
    assert details["trent-acres"][1].endswith(".invalid")
    assert config.school("trent-acres").reply_to == ""
    # SENDAT's policy names no member school: each member's details are reserved placeholders
    # (Ofcom's drama numbers, example.org), never guessed real ones, and never `.invalid`.
    for slug in ("sendat-a", "sendat-b"):
        phone, email, website = details[slug]
        assert phone.startswith("01632 960") and email.endswith(".example.org")
        assert website.endswith(".example.org") and ".invalid" not in email
