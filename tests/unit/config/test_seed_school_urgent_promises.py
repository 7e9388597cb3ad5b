"""What each seed school's policy promises about urgent messages, kept whatever the family
prefers (decision 0065).

- 3 Dimensions, Westbourne, Trent Acres (Outcomes First Group): "Text Messages - ... for
  important reminders and announcements" and "Telephone Calls - for urgent communications"
  (made by staff, from the not-reached list).
- SENDAT, 3.2: "We will text parents/carers about: ... Short-notice changes to the school day,
  Emergency school closures" and "We would usually also use email as a 'back-up' for those
  parents/carers who may not always receive text messages"; 3.1 lists emergency closures under
  email too; 2.3 asks for "more than one point of contact in case of emergency"; 3.4: phone
  calls "may not be the best form of communication" for a family with a hearing impairment.
- Brockmoor, 3.2: "We will text parents through our App about: ... Short-notice changes to
  the school day, Emergency school closures (for instance, due to bad weather)".

Each test routes through the real ``config/`` folder, so a change to ``policy.toml``, to a
school file or to routing that breaks one of these promises fails here with the school's
name in the test id.
"""

from __future__ import annotations

import pytest

from dispatcher.config.configuration import Configuration, load_configuration
from dispatcher.domain import Channel, ContactProfile, DeliveryKind, Need, StudentLink
from dispatcher.planning.phoning import DO_NOT_PHONE
from dispatcher.planning.routing import RoutingDecision, route_contact
from tests.support.paths import CONFIG_DIR

SMS, EMAIL, PUSH = Channel.SMS, Channel.EMAIL, Channel.PUSH
PRIMARY, BACKUP = DeliveryKind.PRIMARY, DeliveryKind.BACKUP
URGENT = ("emergency_closure", "short_notice_change")
SEED_SCHOOLS = (
    "three-dimensions",
    "westbourne",
    "trent-acres",
    "sendat-a",
    "sendat-b",
    "brockmoor",
)
#: Brockmoor texts "through our App": the app where the family has it, else a text.
APP_FIRST = {"brockmoor"}
#: Schools whose families may have the app (3 Dimensions names none).
WITH_APP = {"westbourne", "trent-acres", "sendat-a", "sendat-b", "brockmoor"}


@pytest.fixture(scope="module")
def config() -> Configuration:
    return load_configuration(CONFIG_DIR)


def family(
    *,
    sms: bool = True,
    email: bool = True,
    push: bool = False,
    prefers: Channel | None = None,
    needs: frozenset[Need] = frozenset(),
    priority: int = 1,
    stop: bool = False,
    landline: bool = False,
) -> ContactProfile:
    return ContactProfile(
        contact_id=1,
        links=(StudentLink(10, priority, parental_responsibility=True, no_contact=False),),
        sms_number="+447700900123" if sms else None,
        has_phone=sms or landline,
        email="parent@example.org" if email else None,
        push_token="app-token" if push else None,
        preferred_channel=prefers,
        needs=needs,
        sms_opted_out=stop,
    )


def route(config: Configuration, slug: str, category: str, who: ContactProfile) -> RoutingDecision:
    return route_contact(config.policy.category(category), config.school(slug), who, {"en"})


def sent(decision: RoutingDecision) -> list[tuple[Channel, DeliveryKind]]:
    return [(d.channel, d.kind) for d in decision.deliveries]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", URGENT)
@pytest.mark.parametrize("prefers", [EMAIL, PUSH, SMS, None])
def test_an_urgent_message_goes_by_text_with_the_email_back_up_whatever_the_preference(
    config: Configuration, slug: str, category: str, prefers: Channel | None
) -> None:
    decision = route(config, slug, category, family(prefers=prefers))
    assert sent(decision) == [(SMS, PRIMARY), (EMAIL, BACKUP)]


@pytest.mark.parametrize("slug", sorted(WITH_APP))
@pytest.mark.parametrize("category", URGENT)
def test_with_the_app_the_urgent_message_follows_the_schools_own_order(
    config: Configuration, slug: str, category: str
) -> None:
    decision = route(config, slug, category, family(push=True, prefers=EMAIL))
    first = PUSH if slug in APP_FIRST else SMS
    assert sent(decision) == [(first, PRIMARY), (EMAIL, BACKUP)]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", URGENT)
def test_a_family_that_cannot_receive_texts_gets_the_email(
    config: Configuration, slug: str, category: str
) -> None:
    """SENDAT's "back-up for those who may not always receive text messages": a family with
    the ``no_sms`` need, or whose number texted STOP, is never texted and still hears."""
    for who in (family(needs=frozenset({Need.NO_SMS})), family(stop=True)):
        decision = route(config, slug, category, who)
        assert sent(decision) == [(EMAIL, PRIMARY)]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", URGENT)
def test_a_family_with_only_a_landline_is_left_for_the_office_to_phone(
    config: Configuration, slug: str, category: str
) -> None:
    """ "Telephone Calls - for urgent communications": the dispatcher cannot text a landline,
    so the family is listed as unreachable (for staff to phone), never silently excluded."""
    decision = route(config, slug, category, family(sms=False, email=False, landline=True))
    assert decision.deliveries == ()
    assert decision.excluded_reason is None
    assert decision.unreachable_reason is not None
    assert "no mobile that takes texts" in decision.unreachable_reason


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", URGENT)
@pytest.mark.parametrize("priority", [2, 3])
def test_second_and_emergency_only_contacts_hear_about_emergencies(
    config: Configuration, slug: str, category: str, priority: int
) -> None:
    """SENDAT asks for "more than one point of contact in case of emergency": the second
    contact and an emergency-only contact both get urgent news, by text with the back-up."""
    decision = route(config, slug, category, family(priority=priority, prefers=EMAIL))
    assert sent(decision) == [(SMS, PRIMARY), (EMAIL, BACKUP)]


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
@pytest.mark.parametrize("category", URGENT)
def test_a_hearing_impaired_family_is_texted_and_marked_not_to_be_phoned(
    config: Configuration, slug: str, category: str
) -> None:
    """SENDAT 3.4: phone calls may not suit a family with a hearing impairment. Texts and
    email are fine; the office is told not to phone."""
    decision = route(config, slug, category, family(needs=frozenset({Need.HEARING_IMPAIRED})))
    assert sent(decision) == [(SMS, PRIMARY), (EMAIL, BACKUP)]
    assert decision.notes == (DO_NOT_PHONE,)


@pytest.mark.parametrize("slug", SEED_SCHOOLS)
def test_the_preference_still_decides_non_urgent_messages(config: Configuration, slug: str) -> None:
    """Payments go by text first at every seed school (the app first at Brockmoor), but a
    family who prefers email gets the payment request by email: only urgent news overrides
    a preference."""
    decision = route(config, slug, "payment_request", family(prefers=EMAIL))
    assert sent(decision) == [(EMAIL, PRIMARY)]
