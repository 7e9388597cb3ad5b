"""Routing: which channels, language and format each contact gets for one announcement.

A pure function of the category policy, the school's configuration and what we know about the
contact. No database, no broker, no clock: everything it needs comes in as arguments, so it is
tested exhaustively (see tests/unit/planning/test_routing.py).

The rules, in the order they apply:

1. Safeguarding first. A contact barred from every audience student it is linked to
   (``no_contact``) is *excluded*: never messaged, never listed for the office to phone.
2. Categories that ask for a decision (``requires_parental_responsibility``) go only to
   contacts with parental responsibility for an audience student; others are excluded.
3. Emergency-only contacts (priority 3) get only the categories that escalate
   (``escalate_to_next_contact``: emergency closures, short-notice changes).
4. A category opt-out is honoured only where the category allows it: the contact is
   excluded.
5. Channels: the school's order for the category, limited to the channels the school has and
   the contact can receive (an SMS-capable mobile and no ``no_sms`` need; an email and no
   ``no_email`` need; a live app token). A number that texted STOP is never texted, whatever
   the category (decision 0065); a contact left with no channel because of it is excluded
   where the category allows opting out (they asked not to be texted: not a family for the
   office to phone), and unreachable otherwise (the office phones them).
6. Urgent categories keep the policy's order: the contact's preferred channel (or email for
   a ``screen_reader`` user with no preference) moves to the front only for the others.
7. The first channel is the primary delivery; the rest are its fallback chain. Categories
   with ``email_backup`` also send an email back-up when the primary is not email, so an
   urgent message goes as a text (or the app, where the school's order puts it first) and an
   email to a family that has both.
8. A contact with no channel left is *unreachable*: listed for the office to phone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import (
    EMERGENCY_ONLY,
    Channel,
    ContactProfile,
    DeliveryKind,
    MessageFormat,
    Need,
    StudentLink,
    Urgency,
)
from dispatcher.planning.phoning import phone_advice


@dataclass(frozen=True)
class PlannedDelivery:
    """One message to send: channel, why it exists, language, format, and what comes next."""

    channel: Channel
    kind: DeliveryKind
    language: str
    language_fallback: bool
    format: MessageFormat
    fallback_chain: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class RoutingDecision:
    """The outcome for one contact: deliveries, or why there are none."""

    contact_id: int
    student_id: int | None
    deliveries: tuple[PlannedDelivery, ...] = ()
    excluded_reason: str | None = None
    unreachable_reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def reachable(self) -> bool:
        """True when at least one delivery is planned."""
        return bool(self.deliveries)


# Reasons, as they appear in plans and reports.
EXCLUDED_NO_CONTACT = "no_contact"
EXCLUDED_NO_PARENTAL_RESPONSIBILITY = "no_parental_responsibility"
EXCLUDED_EMERGENCY_ONLY = "emergency_only"
EXCLUDED_OPTED_OUT = "opted_out"
EXCLUDED_SMS_OPTED_OUT = "sms_opted_out"
UNREACHABLE_NO_CHANNEL = "no_channel"


def choose_language(
    requested: str | None, available: Collection[str], school_default: str
) -> tuple[str, bool]:
    """Pick the template language for a contact.

    Returns ``(language, fell_back)``: the contact's language if the category has templates in
    it (matching ``pt-BR`` to ``pt`` when only the primary language exists), otherwise the
    school's default with ``fell_back`` true.
    """
    if not requested:
        return school_default, False
    tag = requested.lower()
    if tag in available:
        return tag, False
    primary = tag.split("-", 1)[0]
    if primary in available:
        return primary, False
    if primary == school_default.lower():
        return school_default, False
    return school_default, True


def choose_format(needs: Collection[Need]) -> MessageFormat:
    """Presentation variant for a contact's needs (large print wins over easy read)."""
    if Need.LARGE_PRINT in needs or Need.VISUALLY_IMPAIRED in needs:
        return MessageFormat.LARGE_PRINT
    if Need.EASY_READ in needs:
        return MessageFormat.EASY_READ
    return MessageFormat.STANDARD


def reachable_channels(contact: ContactProfile) -> frozenset[Channel]:
    """Channels on which the contact can receive a message at all."""
    channels: set[Channel] = set()
    if contact.sms_number and Need.NO_SMS not in contact.needs:
        channels.add(Channel.SMS)
    if contact.email and Need.NO_EMAIL not in contact.needs:
        channels.add(Channel.EMAIL)
    if contact.push_token:
        channels.add(Channel.PUSH)
    return frozenset(channels)


def usable_channels(contact: ContactProfile) -> frozenset[Channel]:
    """Channels the contact can receive now: ``reachable_channels`` less SMS when the number
    texted STOP (and not START since). A STOP wins over every category, urgent ones too: the
    provider refuses texts to such a number anyway (Twilio's 21610), so planning one would
    only delay the email."""
    channels = reachable_channels(contact)
    if contact.sms_opted_out:
        channels = channels - {Channel.SMS}
    return channels


def keeps_policy_order(category: CategoryPolicy) -> bool:
    """True for categories whose channels are sent as the policy says, whatever the contact
    prefers: the urgent ones (an emergency closure goes by text with an email back-up)."""
    return category.urgency is Urgency.URGENT


def _ordered_channels(
    category: CategoryPolicy, school: SchoolConfig, contact: ContactProfile
) -> list[Channel]:
    can_receive = usable_channels(contact)
    order = [c for c in school.channels_for(category) if c in can_receive]
    if keeps_policy_order(category):
        return order
    favourite = contact.preferred_channel
    if favourite is None and Need.SCREEN_READER in contact.needs:
        favourite = Channel.EMAIL
    if favourite in order:
        order.remove(favourite)
        order.insert(0, favourite)
    return order


def _eligible_links(
    category: CategoryPolicy, links: tuple[StudentLink, ...]
) -> tuple[tuple[StudentLink, ...], str | None]:
    """Links through which this category may reach the contact, or the exclusion reason."""
    allowed = tuple(link for link in links if not link.no_contact)
    if not allowed:
        return (), EXCLUDED_NO_CONTACT
    if category.requires_parental_responsibility:
        allowed = tuple(link for link in allowed if link.parental_responsibility)
        if not allowed:
            return (), EXCLUDED_NO_PARENTAL_RESPONSIBILITY
    if not category.escalate_to_next_contact:
        allowed = tuple(link for link in allowed if link.priority != EMERGENCY_ONLY)
        if not allowed:
            return (), EXCLUDED_EMERGENCY_ONLY
    return allowed, None


def route_contact(
    category: CategoryPolicy,
    school: SchoolConfig,
    contact: ContactProfile,
    available_languages: Collection[str],
) -> RoutingDecision:
    """Decide the deliveries for one contact of one announcement.

    Promises: a ``no_contact`` link is never used; no channel appears twice; SMS is never
    planned for a ``no_sms`` contact, a number that cannot take texts or a number that
    texted STOP; a category opt-out is honoured only where the category allows it; an urgent
    category goes on the school's first channel the contact can receive, whatever their
    preference, with the email back-up; every contact with a usable channel gets at least
    one delivery unless excluded by safeguarding, parental responsibility, priority or an
    allowed opt-out.
    """
    links, excluded = _eligible_links(category, contact.links)
    if excluded is not None:
        first = contact.links[0].student_id if contact.links else None
        return RoutingDecision(contact.contact_id, first, excluded_reason=excluded)
    student_id = min(link.student_id for link in links)
    if category.opt_out_allowed and category.name in contact.opt_outs:
        return RoutingDecision(contact.contact_id, student_id, excluded_reason=EXCLUDED_OPTED_OUT)

    order = _ordered_channels(category, school, contact)
    if not order and category.opt_out_allowed and contact.sms_opted_out:
        without_opt_out = _ordered_channels(category, school, replace(contact, sms_opted_out=False))
        if without_opt_out:
            return RoutingDecision(
                contact.contact_id, student_id, excluded_reason=EXCLUDED_SMS_OPTED_OUT
            )
    if not order:
        return RoutingDecision(
            contact.contact_id, student_id, unreachable_reason=_why_unreachable(school, contact)
        )

    language, fell_back = choose_language(
        contact.language, available_languages, school.default_language
    )
    message_format = choose_format(contact.needs)
    primary = PlannedDelivery(
        channel=order[0],
        kind=DeliveryKind.PRIMARY,
        language=language,
        language_fallback=fell_back,
        format=message_format,
        fallback_chain=tuple(order[1:]),
    )
    deliveries = [primary]
    if category.email_backup and primary.channel is not Channel.EMAIL and Channel.EMAIL in order:
        deliveries.append(
            PlannedDelivery(
                channel=Channel.EMAIL,
                kind=DeliveryKind.BACKUP,
                language=language,
                language_fallback=fell_back,
                format=message_format,
            )
        )
    advice = phone_advice(contact.needs)
    notes = (advice,) if advice else ()
    return RoutingDecision(contact.contact_id, student_id, tuple(deliveries), notes=notes)


def _why_unreachable(school: SchoolConfig, contact: ContactProfile) -> str:
    parts: list[str] = []
    if contact.sms_number is None:
        parts.append("no mobile that takes texts" if contact.has_phone else "no mobile")
    elif Need.NO_SMS in contact.needs:
        parts.append("cannot use SMS")
    elif contact.sms_opted_out:
        parts.append("texted STOP")
    if contact.email is None:
        parts.append("no email")
    elif Need.NO_EMAIL in contact.needs:
        parts.append("cannot use email")
    if contact.push_token is None and Channel.PUSH in school.channels_enabled:
        parts.append("no app")
    detail = ", ".join(parts) or "no channel this category uses"
    return f"{UNREACHABLE_NO_CHANNEL}: {detail}"
