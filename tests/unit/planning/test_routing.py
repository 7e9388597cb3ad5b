"""Routing is pure: these tests need no database and cover its promises exhaustively."""

from __future__ import annotations

import dataclasses
from typing import Unpack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.config.configuration import load_configuration
from dispatcher.config.policy import CategoryPolicy, Policy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import (
    Channel,
    ContactProfile,
    DeliveryKind,
    MessageFormat,
    Need,
    StudentLink,
    Urgency,
)
from dispatcher.planning.routing import (
    EXCLUDED_EMERGENCY_ONLY,
    EXCLUDED_NO_CONTACT,
    EXCLUDED_NO_PARENTAL_RESPONSIBILITY,
    EXCLUDED_OPTED_OUT,
    RoutingDecision,
    choose_language,
    route_contact,
)
from tests.support.contacts import ContactChanges
from tests.support.paths import CONFIG_DIR

CONFIG = load_configuration(CONFIG_DIR)
POLICY: Policy = CONFIG.policy
DEMO: SchoolConfig = CONFIG.school("demo")
LANGUAGES = frozenset({"en", "pl", "ur"})


PARENT = ContactProfile(
    contact_id=1,
    links=(StudentLink(10, 1, True, False),),
    sms_number="+447700900123",
    has_phone=True,
    email="parent@example.com",
    push_token=None,
)


def parent(**changes: Unpack[ContactChanges]) -> ContactProfile:
    return dataclasses.replace(PARENT, **changes)


def channels(decision: RoutingDecision) -> list[Channel]:
    return [d.channel for d in decision.deliveries]


def test_emergency_closure_texts_with_an_email_back_up() -> None:
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, parent(), LANGUAGES)
    assert channels(decision) == [Channel.SMS, Channel.EMAIL]
    assert [d.kind for d in decision.deliveries] == [DeliveryKind.PRIMARY, DeliveryKind.BACKUP]
    assert decision.deliveries[0].fallback_chain == (Channel.EMAIL,)


def test_newsletter_goes_by_email_only() -> None:
    decision = route_contact(POLICY.category("newsletter"), DEMO, parent(), LANGUAGES)
    assert channels(decision) == [Channel.EMAIL]


def test_no_email_family_still_gets_a_trip_letter_by_text() -> None:
    decision = route_contact(POLICY.category("trip_letter"), DEMO, parent(email=None), LANGUAGES)
    assert channels(decision) == [Channel.SMS]


def test_no_sms_need_never_gets_a_text_even_for_an_emergency() -> None:
    contact = parent(needs=frozenset({Need.NO_SMS}))
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert channels(decision) == [Channel.EMAIL]


def test_landline_only_contact_is_unreachable_and_says_why() -> None:
    contact = parent(sms_number=None, has_phone=True, email=None)
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert not decision.deliveries
    assert decision.unreachable_reason is not None
    assert "no mobile that takes texts" in decision.unreachable_reason
    assert decision.excluded_reason is None


def test_court_order_excludes_the_contact_from_everything() -> None:
    contact = parent(links=(StudentLink(10, 1, True, True),))
    assert POLICY.categories
    for name in POLICY.categories:
        decision = route_contact(POLICY.category(name), DEMO, contact, LANGUAGES)
        assert decision.deliveries == ()
        assert decision.excluded_reason == EXCLUDED_NO_CONTACT
        assert decision.unreachable_reason is None


def test_no_contact_for_one_sibling_still_allows_the_other() -> None:
    contact = parent(links=(StudentLink(10, 1, True, True), StudentLink(11, 1, True, False)))
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert decision.deliveries
    assert decision.student_id == 11


def test_consent_needs_parental_responsibility() -> None:
    contact = parent(links=(StudentLink(10, 1, False, False),))
    decision = route_contact(POLICY.category("consent_request"), DEMO, contact, LANGUAGES)
    assert decision.excluded_reason == EXCLUDED_NO_PARENTAL_RESPONSIBILITY
    decision = route_contact(POLICY.category("trip_letter"), DEMO, contact, LANGUAGES)
    assert decision.deliveries


def test_emergency_only_contacts_get_only_emergencies() -> None:
    grandparent = parent(links=(StudentLink(10, 3, False, False),))
    assert route_contact(
        POLICY.category("emergency_closure"), DEMO, grandparent, LANGUAGES
    ).deliveries
    decision = route_contact(POLICY.category("newsletter"), DEMO, grandparent, LANGUAGES)
    assert decision.excluded_reason == EXCLUDED_EMERGENCY_ONLY


def test_opt_out_honoured_for_newsletter_but_not_for_emergency() -> None:
    contact = parent(opt_outs=frozenset({"newsletter", "emergency_closure"}))
    assert (
        route_contact(POLICY.category("newsletter"), DEMO, contact, LANGUAGES).excluded_reason
        == EXCLUDED_OPTED_OUT
    )
    assert route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES).deliveries


def test_preferred_channel_moves_to_the_front() -> None:
    contact = parent(preferred_channel=Channel.EMAIL)
    decision = route_contact(POLICY.category("payment_request"), DEMO, contact, LANGUAGES)
    assert channels(decision) == [Channel.EMAIL]
    assert decision.deliveries[0].fallback_chain == (Channel.SMS,)


def test_push_token_used_when_there_is_no_mobile() -> None:
    contact = parent(sms_number=None, has_phone=False, push_token="tok")
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert channels(decision) == [Channel.PUSH, Channel.EMAIL]


def test_large_print_and_language() -> None:
    contact = parent(language="pl-PL", needs=frozenset({Need.VISUALLY_IMPAIRED}))
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert {d.language for d in decision.deliveries} == {"pl"}
    assert {d.format for d in decision.deliveries} == {MessageFormat.LARGE_PRINT}
    assert not any(d.language_fallback for d in decision.deliveries)


def test_missing_language_falls_back_to_school_default_and_says_so() -> None:
    contact = parent(language="so")
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert {(d.language, d.language_fallback) for d in decision.deliveries} == {("en", True)}


def test_choose_language() -> None:
    assert choose_language(None, {"en"}, "en") == ("en", False)
    assert choose_language("EN-gb", {"en"}, "en") == ("en", False)
    assert choose_language("ur", {"en", "ur"}, "en") == ("ur", False)
    assert choose_language("cy", {"en"}, "en") == ("en", True)


def test_school_channels_limit_routing() -> None:
    no_sms_school = DEMO.model_copy(update={"channels_enabled": (Channel.EMAIL,)})
    decision = route_contact(
        POLICY.category("emergency_closure"), no_sms_school, parent(), LANGUAGES
    )
    assert channels(decision) == [Channel.EMAIL]


# --- properties over every contact shape and every category -----------------------------------

links = st.lists(
    st.builds(
        StudentLink,
        student_id=st.integers(1, 5),
        priority=st.integers(1, 3),
        parental_responsibility=st.booleans(),
        no_contact=st.booleans(),
    ),
    min_size=1,
    max_size=3,
).map(tuple)

contacts = st.builds(
    ContactProfile,
    contact_id=st.integers(1, 10_000),
    links=links,
    sms_number=st.one_of(st.none(), st.just("+447700900001")),
    has_phone=st.booleans(),
    email=st.one_of(st.none(), st.just("someone@example.org")),
    push_token=st.one_of(st.none(), st.just("token-abc")),
    preferred_channel=st.one_of(st.none(), st.sampled_from(list(Channel))),
    language=st.one_of(st.none(), st.sampled_from(["en", "pl", "ur", "cy", "pt-BR"])),
    needs=st.frozensets(st.sampled_from(list(Need))),
    opt_outs=st.frozensets(st.sampled_from(sorted(POLICY.categories))),
)
categories = st.sampled_from(sorted(POLICY.categories)).map(POLICY.category)
schools = st.sampled_from(sorted(CONFIG.schools)).map(CONFIG.school)


def _usable(contact: ContactProfile, category: CategoryPolicy, school: SchoolConfig) -> bool:
    can = set()
    if contact.sms_number and Need.NO_SMS not in contact.needs:
        can.add(Channel.SMS)
    if contact.email and Need.NO_EMAIL not in contact.needs:
        can.add(Channel.EMAIL)
    if contact.push_token:
        can.add(Channel.PUSH)
    return bool(can & set(school.channels_for(category)))


@settings(max_examples=400, deadline=None)
@given(contact=contacts, category=categories, school=schools)
def test_routing_promises(
    contact: ContactProfile, category: CategoryPolicy, school: SchoolConfig
) -> None:
    decision = route_contact(category, school, contact, LANGUAGES)
    planned = channels(decision)
    # never two deliveries on one channel
    assert len(planned) == len(set(planned))
    # a no_sms contact never gets an SMS
    if Need.NO_SMS in contact.needs or contact.sms_number is None:
        assert Channel.SMS not in planned
    if Need.NO_EMAIL in contact.needs or contact.email is None:
        assert Channel.EMAIL not in planned
    # safeguarding first: barred from every linked student -> excluded, never routed
    if all(link.no_contact for link in contact.links):
        assert decision.excluded_reason == EXCLUDED_NO_CONTACT
        assert not planned
    # an opt-out is honoured only where the policy allows it
    if category.name in contact.opt_outs and not category.opt_out_allowed:
        assert decision.excluded_reason != EXCLUDED_OPTED_OUT
    if decision.excluded_reason == EXCLUDED_OPTED_OUT:
        assert category.opt_out_allowed
    # excluded and unreachable are exclusive; a planned contact has neither
    assert not (decision.excluded_reason and decision.unreachable_reason)
    if planned:
        assert decision.excluded_reason is None and decision.unreachable_reason is None
    # only channels the school has and the category allows
    assert set(planned) <= set(school.channels_for(category)) | {Channel.EMAIL}


@settings(max_examples=400, deadline=None)
@given(
    contact=contacts,
    school=schools,
    name=st.sampled_from([n for n, c in POLICY.categories.items() if c.urgency is Urgency.URGENT]),
)
def test_every_reachable_contact_gets_urgent_messages(
    contact: ContactProfile, school: SchoolConfig, name: str
) -> None:
    category = POLICY.category(name)
    decision = route_contact(category, school, contact, LANGUAGES)
    allowed = any(not link.no_contact for link in contact.links)
    if allowed and _usable(contact, category, school):
        assert decision.deliveries, decision
    elif allowed:
        assert decision.unreachable_reason is not None


@pytest.mark.parametrize("name", sorted(POLICY.categories))
def test_every_category_reaches_a_plain_parent(name: str) -> None:
    decision = route_contact(POLICY.category(name), DEMO, parent(), LANGUAGES)
    assert decision.deliveries


# --- urgent categories keep the policy's promise (decision 0065) ------------------------------

URGENT = sorted(n for n, c in POLICY.categories.items() if c.urgency is Urgency.URGENT)


@pytest.mark.parametrize("name", URGENT)
@pytest.mark.parametrize("favourite", list(Channel))
def test_an_urgent_message_is_texted_with_an_email_back_up_whatever_the_preference(
    name: str, favourite: Channel
) -> None:
    contact = parent(preferred_channel=favourite, push_token="tok")
    decision = route_contact(POLICY.category(name), DEMO, contact, LANGUAGES)
    assert [(d.channel, d.kind) for d in decision.deliveries] == [
        (Channel.SMS, DeliveryKind.PRIMARY),
        (Channel.EMAIL, DeliveryKind.BACKUP),
    ]
    assert decision.deliveries[0].fallback_chain == (Channel.PUSH, Channel.EMAIL)


def test_a_screen_reader_user_gets_the_urgent_text_too_and_email_first_otherwise() -> None:
    contact = parent(needs=frozenset({Need.SCREEN_READER}))
    urgent = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert channels(urgent) == [Channel.SMS, Channel.EMAIL]
    payment = route_contact(POLICY.category("payment_request"), DEMO, contact, LANGUAGES)
    assert channels(payment) == [Channel.EMAIL]


def test_the_preference_still_decides_the_channel_of_non_urgent_categories() -> None:
    contact = parent(preferred_channel=Channel.SMS)
    decision = route_contact(POLICY.category("trip_letter"), DEMO, contact, LANGUAGES)
    assert channels(decision) == [Channel.SMS]
    assert decision.deliveries[0].fallback_chain == (Channel.EMAIL,)


def test_no_sms_still_wins_over_an_urgent_category() -> None:
    contact = parent(needs=frozenset({Need.NO_SMS}), preferred_channel=Channel.SMS)
    decision = route_contact(POLICY.category("short_notice_change"), DEMO, contact, LANGUAGES)
    assert [(d.channel, d.kind) for d in decision.deliveries] == [
        (Channel.EMAIL, DeliveryKind.PRIMARY)
    ]
    with_app = route_contact(
        POLICY.category("short_notice_change"),
        DEMO,
        dataclasses.replace(contact, push_token="t"),
        LANGUAGES,
    )
    assert channels(with_app) == [Channel.PUSH, Channel.EMAIL]


def test_a_stop_still_wins_over_an_urgent_category() -> None:
    contact = parent(sms_opted_out=True, preferred_channel=Channel.SMS)
    decision = route_contact(POLICY.category("emergency_closure"), DEMO, contact, LANGUAGES)
    assert [(d.channel, d.kind) for d in decision.deliveries] == [
        (Channel.EMAIL, DeliveryKind.PRIMARY)
    ]
    assert decision.deliveries[0].fallback_chain == ()


def _receivable(contact: ContactProfile) -> set[Channel]:
    can = set()
    if contact.sms_number and Need.NO_SMS not in contact.needs and not contact.sms_opted_out:
        can.add(Channel.SMS)
    if contact.email and Need.NO_EMAIL not in contact.needs:
        can.add(Channel.EMAIL)
    if contact.push_token:
        can.add(Channel.PUSH)
    return can


@settings(max_examples=400, deadline=None)
@given(
    contact=contacts.flatmap(
        lambda c: st.booleans().map(lambda stop: dataclasses.replace(c, sms_opted_out=stop))
    ),
    school=schools,
    name=st.sampled_from(URGENT),
)
def test_urgent_routing_follows_the_schools_order_and_adds_the_email_back_up(
    contact: ContactProfile, school: SchoolConfig, name: str
) -> None:
    category = POLICY.category(name)
    decision = route_contact(category, school, contact, LANGUAGES)
    if not decision.deliveries:
        return
    receivable = _receivable(contact)
    order = [c for c in school.channels_for(category) if c in receivable]
    primary = decision.deliveries[0]
    assert primary.channel is order[0]
    assert primary.fallback_chain == tuple(order[1:])
    wants_backup = primary.channel is not Channel.EMAIL and Channel.EMAIL in order
    assert [d.channel for d in decision.deliveries[1:]] == ([Channel.EMAIL] if wants_backup else [])
    assert Channel.SMS not in channels(decision) or Channel.SMS in receivable
