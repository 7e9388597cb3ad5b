"""What the console's announcement pages read besides the report: its deliveries by state
(what a cancel would stop), the texts families sent back, one kept text per channel,
language and format (what families read), and how each contact is related to each pupil
("mother", "grandfather") for the list of families to phone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Contact,
    Delivery,
    InboundMessage,
    MessageText,
    Student,
    StudentContact,
)

#: How many kept texts are looked at to find one per channel, language and format.
TEXTS_LOOKED_AT = 200


@dataclass(frozen=True)
class SampleText:
    """One text of an announcement as families read it (``body`` is None once erased)."""

    channel: str
    language: str
    format: str
    subject: str | None
    body: str | None


def sample_texts(session: Session, announcement_id: int) -> list[SampleText]:
    """The first kept text of each channel, language and format of the announcement, by
    channel, language and format (looking at the first ``TEXTS_LOOKED_AT`` only: a message
    with each family's name in it has as many texts as families)."""
    rows = session.execute(
        select(
            MessageText.channel,
            MessageText.language,
            MessageText.format,
            MessageText.subject,
            MessageText.body,
        )
        .where(MessageText.announcement_id == announcement_id)
        .order_by(MessageText.id)
        .limit(TEXTS_LOOKED_AT)
    )
    first: dict[tuple[str, str, str], SampleText] = {}
    for channel, language, fmt, subject, body in rows:
        first.setdefault(
            (channel, language, fmt), SampleText(channel, language, fmt, subject, body)
        )
    return [first[key] for key in sorted(first)]


def relationships(
    session: Session, school_id: int, student_ids: Collection[str]
) -> dict[tuple[str, str], str]:
    """How each contact is related to each of ``student_ids`` (MIS ids of ``school_id``'s
    pupils), by (pupil's MIS id, contact's MIS id): "mother", "carer"; "" when unrecorded."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(Student.external_id, Contact.external_id, StudentContact.relationship)
        .join(StudentContact, StudentContact.student_id == Student.id)
        .join(Contact, Contact.id == StudentContact.contact_id)
        .where(Student.school_id == school_id, Student.external_id.in_(list(student_ids)))
    )
    return {(student, contact): relation or "" for student, contact, relation in rows}


def state_counts(session: Session, announcement_id: int) -> dict[str, int]:
    """The announcement's deliveries by state (``pending``, ``held``, ``sending``, ...), only
    the states it has."""
    return {
        state: int(n)
        for state, n in session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.state)
        )
    }


@dataclass(frozen=True)
class Reply:
    """A text a family sent back about the announcement: a reply, or a STOP / START."""

    received_at: datetime
    kind: str
    contact_name: str
    body: str


#: At most this many replies are shown beside an announcement (the newest).
REPLIES_SHOWN = 200


def replies_of(session: Session, announcement_id: int) -> list[Reply]:
    """The texts families sent back matched to the announcement (replies, STOP and START),
    oldest first, the newest ``REPLIES_SHOWN`` only; the contact's name ("" when the number
    is on no contact), never the number."""
    rows = session.execute(
        select(
            InboundMessage.received_at,
            InboundMessage.kind,
            Contact.first_name,
            Contact.last_name,
            InboundMessage.body,
        )
        .outerjoin(Contact, Contact.id == InboundMessage.contact_id)
        .where(InboundMessage.announcement_id == announcement_id)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(REPLIES_SHOWN)
    ).all()
    return [
        Reply(
            received_at=at,
            kind=kind,
            contact_name=f"{first or ''} {last or ''}".strip(),
            body=body,
        )
        for at, kind, first, last, body in reversed(rows)
    ]
