"""What happens after a delivery fails: the contact's next channel (fallback) or, with no
channel left, the student's next contact (escalation).

One entry point, ``start_follow_ups``, used both when a provider refuses a message at send
time (``dispatcher.delivering``) and when it reports a failure later by webhook
(``dispatcher.tracking``). Its rules:

- **Fallback**: the next channel of the failed delivery's fallback chain that this contact
  has no delivery on yet for the announcement (an urgent email back-up counts, so a fallback
  never sends a second copy on a channel already used), that the contact can still receive
  (a live push token, an SMS-capable mobile, an email, no ``no_sms``/``no_email`` need, no
  SMS opt-out where the category allows one) and the school has.
- **Email failures** (bounce, dropped, refused address): for urgent and normal categories the
  fallback may also be SMS, when the contact has a mobile not yet texted for this
  announcement (by any contact sharing the number); bulk categories never fall back to SMS.
- **Escalation**: a contact with no delivery left that can still reach them is *not
  reached*. When the category escalates (``escalate_to_next_contact``) and nobody else in the
  student's family is reached or still being tried, the student's next contacts (lowest
  priority number first) that have no delivery for the announcement yet are routed with
  ``dispatcher.routing.route_contact`` (safeguarding exclusions included) and get deliveries
  of kind ``escalation``.
- Every follow-up is created at most once: linked by ``fallback_of`` to the failed delivery,
  and backed by the one-delivery-per-channel unique constraint.

The decisions are pure functions (``next_channels``, ``first_usable``); the rest reads and
writes through the caller's session. The caller commits, then enqueues the returned ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import (
    FINAL_STATES,
    REACHED_STATES,
    Channel,
    ContactProfile,
    DeliveryKind,
    DeliveryState,
    StudentLink,
    Urgency,
)
from dispatcher.planning.routing import route_contact, usable_channels
from dispatcher.runtime import Runtime, current_runtime
from dispatcher.store.announcements import reopen
from dispatcher.store.audience import load_audience_contacts
from dispatcher.store.models import Announcement, Contact, Delivery, School, StudentContact

#: States in which a delivery will not reach anyone any more.
FAILED_STATES = frozenset(s.value for s in FINAL_STATES - REACHED_STATES)


@dataclass(frozen=True)
class FollowUpContext:
    """What the follow-up rules need to know about the failed delivery's announcement."""

    category: CategoryPolicy
    school: SchoolConfig
    #: The template languages of a category (read only when an escalation is routed).
    languages_of: Callable[[str], frozenset[str]]


# --- pure decisions ---------------------------------------------------------------------------


def next_channels(
    failed_channel: Channel, fallback_chain: tuple[Channel, ...], urgency: Urgency
) -> tuple[Channel, ...]:
    """The channels to try after a delivery on ``failed_channel`` failed, best first.

    The delivery's own fallback chain; after an email failure SMS is added at the end for
    urgent and normal categories and removed for bulk ones (a text costs money).
    """
    chain = list(fallback_chain)
    if failed_channel is Channel.EMAIL:
        if urgency is Urgency.BULK:
            chain = [c for c in chain if c is not Channel.SMS]
        elif Channel.SMS not in chain:
            chain.append(Channel.SMS)
    return tuple(dict.fromkeys(c for c in chain if c is not failed_channel))


def first_usable(
    candidates: tuple[Channel, ...],
    used: Collection[Channel],
    receivable: Collection[Channel],
    school_channels: Collection[Channel],
) -> tuple[Channel | None, tuple[Channel, ...]]:
    """The first of ``candidates`` not ``used``, ``receivable`` and offered by the school,
    and the candidates still open after it (the new delivery's own fallback chain)."""
    open_channels = tuple(
        c for c in candidates if c not in used and c in receivable and c in school_channels
    )
    if not open_channels:
        return None, ()
    return open_channels[0], open_channels[1:]


# --- reading the situation --------------------------------------------------------------------


def follow_up_context(
    session: Session, announcement_id: int, runtime: Runtime | None = None
) -> FollowUpContext | None:
    """The category, school and template languages of an announcement (None if the
    announcement, its school or its category is unknown to the configuration).
    ``runtime`` defaults to the process's."""
    runtime = runtime or current_runtime()
    row = session.execute(
        select(Announcement.category, School.slug)
        .join(School, School.id == Announcement.school_id)
        .where(Announcement.id == announcement_id)
    ).one_or_none()
    if row is None:
        return None
    try:
        category = runtime.configuration.policy.category(row.category)
        school = runtime.configuration.school(row.slug)
    except KeyError:
        return None
    return FollowUpContext(category, school, runtime.templates.languages)


def _used_channels(session: Session, announcement_id: int, contact_id: int) -> set[Channel]:
    return {
        Channel(c)
        for c in session.scalars(
            select(Delivery.channel).where(
                Delivery.announcement_id == announcement_id, Delivery.contact_id == contact_id
            )
        )
    }


def _number_already_texted(session: Session, announcement_id: int, phone: str | None) -> bool:
    """Whether any contact with this mobile already has an SMS delivery for the
    announcement (two carers sharing one phone get one text)."""
    if not phone:
        return False
    sharing = select(Contact.id).where(Contact.phone_e164 == phone)
    found = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.contact_id.in_(sharing),
            Delivery.channel == Channel.SMS.value,
        )
        .limit(1)
    )
    return found is not None


def _profile(session: Session, contact_id: int, links: list[StudentLink]) -> ContactProfile:
    [contact] = load_audience_contacts(session, [contact_id], {contact_id: links})
    return contact.profile


def contact_in_play(session: Session, announcement_id: int, contact_id: int) -> bool:
    """True while the contact has a delivery for the announcement that has reached them or
    may still: pending, held, sending, sent or delivered."""
    found = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.contact_id == contact_id,
            Delivery.state.not_in(FAILED_STATES),
        )
        .limit(1)
    )
    return found is not None


# --- writing follow-ups -----------------------------------------------------------------------


def _insert(session: Session, values: dict[str, Any]) -> int | None:
    """Insert one delivery inside a savepoint; None when the contact already has a delivery
    on that channel (a concurrent follow-up got there first)."""
    try:
        with session.begin_nested():
            new_id = int(
                session.execute(
                    insert(Delivery).values(**values).returning(Delivery.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None
    # A fallback started by a late report (an undelivered text) reopens a done announcement.
    reopen(session, [int(values["announcement_id"])])
    return new_id


def _new_delivery(
    failed: Delivery,
    moment: datetime,
    *,
    contact_id: int,
    channel: Channel,
    kind: DeliveryKind,
    chain: tuple[Channel, ...],
    language: str,
    language_fallback: bool,
    message_format: str,
) -> dict[str, Any]:
    return {
        "announcement_id": failed.announcement_id,
        "contact_id": contact_id,
        "student_id": failed.student_id,
        "channel": channel.value,
        "kind": kind.value,
        "queue": failed.queue,
        "language": language,
        "language_fallback": language_fallback,
        "format": message_format,
        "fallback_chain": ",".join(c.value for c in chain),
        "fallback_of": failed.id,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "enqueued_at": moment,
        "created_at": moment,
        "updated_at": moment,
    }


def start_fallback(
    session: Session, failed: Delivery, moment: datetime, context: FollowUpContext
) -> int | None:
    """Create the next delivery of ``failed``'s fallback chain for the same contact, once;
    return its id, or None when no channel is left."""
    failed_channel = Channel(failed.channel)
    candidates = next_channels(
        failed_channel,
        tuple(Channel(c) for c in failed.fallback_chain.split(",") if c),
        context.category.urgency,
    )
    if not candidates:
        return None
    profile = _profile(session, failed.contact_id, [])
    receivable = set(usable_channels(profile))
    if Channel.SMS in receivable and _number_already_texted(
        session, failed.announcement_id, profile.sms_number
    ):
        receivable.discard(Channel.SMS)
    channel, rest = first_usable(
        candidates,
        _used_channels(session, failed.announcement_id, failed.contact_id),
        receivable,
        context.school.channels_enabled,
    )
    if channel is None:
        return None
    return _insert(
        session,
        _new_delivery(
            failed,
            moment,
            contact_id=failed.contact_id,
            channel=channel,
            kind=DeliveryKind.FALLBACK,
            chain=rest,
            language=failed.language,
            language_fallback=failed.language_fallback,
            message_format=failed.format,
        ),
    )


def start_escalation(
    session: Session, failed: Delivery, moment: datetime, context: FollowUpContext
) -> list[int]:
    """Message the student's next contacts when nobody in the family is reached.

    Does nothing unless the category escalates, the failed delivery's contact has nothing
    left in play, and no other contact of the student is reached or still being tried. Then
    the student's other contacts with no delivery for the announcement yet, at the lowest
    priority number that has a reachable one, are routed (barred ``no_contact`` links
    exclude them) and get ``escalation`` deliveries linked to ``failed``.
    """
    if not context.category.escalate_to_next_contact or failed.student_id is None:
        return []
    announcement_id = failed.announcement_id
    if contact_in_play(session, announcement_id, failed.contact_id):
        return []
    family = session.execute(
        select(
            StudentContact.contact_id,
            StudentContact.priority,
            StudentContact.parental_responsibility,
            StudentContact.no_contact,
        ).where(
            StudentContact.student_id == failed.student_id,
            StudentContact.contact_id != failed.contact_id,
        )
    ).all()
    if not family:
        return []
    # A contact barred from this student does not count as the family being reached.
    family_ids = [member.contact_id for member in family if not member.no_contact]
    with_deliveries = set(
        session.scalars(
            select(Delivery.contact_id)
            .where(
                Delivery.announcement_id == announcement_id,
                Delivery.contact_id.in_(family_ids),
            )
            .distinct()
        )
    )
    if any(contact_in_play(session, announcement_id, c) for c in with_deliveries):
        return []
    by_priority: dict[int, list[Any]] = defaultdict(list)
    for member in family:
        if member.contact_id not in with_deliveries and not member.no_contact:
            by_priority[member.priority].append(member)
    languages = context.languages_of(context.category.name)
    for priority in sorted(by_priority):
        created: list[int] = []
        for member in sorted(by_priority[priority], key=lambda m: m.contact_id):
            link = StudentLink(
                failed.student_id, member.priority, member.parental_responsibility, False
            )
            decision = route_contact(
                context.category,
                context.school,
                _profile(session, member.contact_id, [link]),
                languages,
            )
            for planned in decision.deliveries:
                new_id = _insert(
                    session,
                    _new_delivery(
                        failed,
                        moment,
                        contact_id=member.contact_id,
                        channel=planned.channel,
                        kind=DeliveryKind.ESCALATION,
                        chain=planned.fallback_chain,
                        language=planned.language,
                        language_fallback=planned.language_fallback,
                        message_format=planned.format.value,
                    ),
                )
                if new_id is not None:
                    created.append(new_id)
        if created:
            return created
    return []


def start_follow_ups(
    session: Session,
    failed: Delivery,
    moment: datetime,
    *,
    runtime: Runtime | None = None,
) -> list[int]:
    """Create the deliveries owed because ``failed`` failed, each at most once, and return
    their ids for enqueueing (the caller commits, then enqueues).

    The contact's next channel if one is left (fallback); otherwise, when the category
    escalates and nobody in the student's family is reached, the student's next contact
    (escalation). ``runtime`` (configuration and templates) defaults to the process's.
    """
    already = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.announcement_id == failed.announcement_id,  # indexed; fallback_of is not
            Delivery.fallback_of == failed.id,
        )
        .limit(1)
    )
    if already is not None:
        return []
    context = follow_up_context(session, failed.announcement_id, runtime)
    if context is None:
        return []
    follow_up = start_fallback(session, failed, moment, context)
    if follow_up is not None:
        return [follow_up]
    return start_escalation(session, failed, moment, context)
