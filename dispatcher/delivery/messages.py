"""From delivery rows to the messages a channel sends: what sending needs of each row and its
contact's row (read in one query per batch), the pupils' names each family's message may
mention, and the rendered, addressed ``OutgoingMessage`` (or why there can be none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import starmap

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dispatcher.channels.base import OutgoingMessage
from dispatcher.delivery.context import AnnouncementFacts
from dispatcher.delivery.outcomes import FailureDecision, cannot_send
from dispatcher.domain import Channel, MessageFormat
from dispatcher.rendering.templates import RenderedMessage, TemplateError, TemplateLibrary
from dispatcher.store.models import Contact, Delivery, Student, StudentContact

#: The context names that differ from family to family.
FAMILY_NAMES = ("contact", "students")


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """What sending a delivery needs of its row and its contact's row."""

    id: int
    announcement_id: int
    contact_id: int
    channel: str
    language: str
    format: str
    state: str
    not_before: datetime | None
    first_name: str
    phone_e164: str | None
    phone_sms_capable: bool
    email: str | None
    push_token: str | None
    push_token_dead: bool

    def address(self, channel: Channel) -> str | None:
        """Where ``channel`` reaches the contact now, or None."""
        if channel is Channel.SMS:
            return self.phone_e164 if self.phone_sms_capable else None
        if channel is Channel.EMAIL:
            return self.email
        return None if self.push_token_dead else self.push_token


_LOAD = (
    select(
        Delivery.id,
        Delivery.announcement_id,
        Delivery.contact_id,
        Delivery.channel,
        Delivery.language,
        Delivery.format,
        Delivery.state,
        Delivery.not_before,
        Contact.first_name,
        Contact.phone_e164,
        Contact.phone_sms_capable,
        Contact.email,
        Contact.push_token,
        Contact.push_token_dead,
    )
    .join(Contact, Contact.id == Delivery.contact_id)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
    .order_by(Delivery.id)
)

_STUDENT_NAMES = (
    select(StudentContact.contact_id, Student.first_name)
    .join(Student, StudentContact.student_id == Student.id)
    .where(
        StudentContact.contact_id.in_(bindparam("contact_ids", expanding=True)),
        StudentContact.no_contact.is_(False),
        Student.school_id == bindparam("school_id"),
        Student.active.is_(True),
    )
    .order_by(Student.first_name)
)


def load_due(session: Session, ids: Sequence[int]) -> list[DueDelivery]:
    """The deliveries of ``ids`` that exist, in id order, with their contacts' addresses."""
    return list(starmap(DueDelivery, session.connection().execute(_LOAD, {"ids": list(ids)})))


def student_names(
    session: Session, school_id: int, contact_ids: Sequence[int]
) -> dict[int, list[str]]:
    """First names of the active students each contact may hear about, sorted."""
    names: dict[int, list[str]] = {contact_id: [] for contact_id in contact_ids}
    rows = session.connection().execute(
        _STUDENT_NAMES, {"contact_ids": list(contact_ids), "school_id": school_id}
    )
    for contact_id, first_name in rows:
        names[contact_id].append(first_name)
    return names


@dataclass
class PreparedDelivery:
    """A claimed delivery ready to send, or why it cannot be."""

    delivery: DueDelivery
    message: OutgoingMessage | None = None
    segments: int | None = None
    problem: FailureDecision | None = None


def prepare(
    templates: TemplateLibrary,
    facts: AnnouncementFacts,
    delivery: DueDelivery,
    students: list[str],
) -> PreparedDelivery:
    """The message ``delivery`` sends, rendered in its language and format and addressed to
    its contact; or, as the ``problem``, why it cannot be sent (no usable address, a template
    that does not render)."""
    channel = Channel(delivery.channel)
    to = delivery.address(channel)
    if to is None:
        return PreparedDelivery(
            delivery,
            problem=cannot_send("no_address", f"contact has no usable {channel.value} address"),
        )
    school = facts.school
    try:
        rendered = _rendered(templates, facts, channel, delivery, students)
    except TemplateError as exc:
        return PreparedDelivery(delivery, problem=cannot_send("template_error", str(exc)))
    message = OutgoingMessage(
        delivery_id=delivery.id,
        announcement_id=facts.id,
        school_slug=school.slug,
        category=facts.category.name,
        channel=channel,
        to=to,
        rendered=rendered,
        sender_id=school.sender_id,
        from_email=school.from_email,
        reply_to=school.reply_to,
        personal=(delivery.first_name, *students),
        urgency=facts.category.urgency,
    )
    return PreparedDelivery(delivery, message, rendered.sms.segments if rendered.sms else None)


def _rendered(
    templates: TemplateLibrary,
    facts: AnnouncementFacts,
    channel: Channel,
    delivery: DueDelivery,
    students: list[str],
) -> RenderedMessage:
    key = (channel.value, delivery.language, delivery.format)
    shared = facts.same_for_all.get(key)
    if shared is not None:
        return shared
    context = {
        **facts.shared_context,
        "contact": {"first_name": delivery.first_name},
        "students": students,
    }
    category = facts.category.name
    rendered = templates.render(
        category, channel, delivery.language, MessageFormat(delivery.format), context
    )
    if key not in facts.same_for_all:
        personal = templates.reads_any(
            category, channel, delivery.language, FAMILY_NAMES, MessageFormat(delivery.format)
        )
        facts.same_for_all[key] = None if personal else rendered
    return rendered
