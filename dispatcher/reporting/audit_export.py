"""The audit export: every message the dispatcher attempted to a family of one school, or to
one contact or the contacts of one student (a subject access request).

One CSV row per delivery that was handed to (or refused by) a provider, oldest first, with
the announcement, the student and contact it concerned, the channel and address, what
became of it, and the subject and text the family read (decision 0077). It holds personal
data by design (it is the school's record of what it sent); nothing of it is logged. Cells
a spreadsheet would evaluate are escaped (``dispatcher.reporting.csv_safe``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TextIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from dispatcher.domain import Channel
from dispatcher.reporting.csv_safe import SafeWriter
from dispatcher.store.models import (
    Announcement,
    Contact,
    Delivery,
    MessageText,
    School,
    Student,
    StudentContact,
)

AUDIT_COLUMNS: Final = (
    "sent_at",
    "announcement_id",
    "category",
    "requested_by",
    "trigger",
    "delivery_id",
    "kind",
    "channel",
    "student_id",
    "student_name",
    "contact_id",
    "contact_name",
    "to",
    "language",
    "state",
    "delivered_at",
    "error_code",
    "provider",
    "provider_message_id",
    "provider_requests",
    "possibly_sent_twice",
    "subject",
    "text",
)

#: The text of a delivery whose words the retention run erased (decision 0078).
ERASED_TEXT: Final = "(erased after the retention period)"


class UnknownSubject(LookupError):
    """No contact or student with that MIS id at the school; ``field`` names the option."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class AuditFilter:
    """Whose messages to export: one contact, or every contact of one student (MIS ids, as
    in the roster), or (neither) every family of the school."""

    contact: str | None = None
    student: str | None = None


def subject_contacts(session: Session, school_slug: str, subject: AuditFilter) -> list[int]:
    """The contact ids ``subject`` names at the school: the contact, or every contact linked
    to the student (whatever their flags: the export is of what was sent). Raises
    ``UnknownSubject`` naming ``contact`` or ``student`` for an id the school does not have."""
    school_id = select(School.id).where(School.slug == school_slug).scalar_subquery()
    if subject.contact is not None:
        found = session.scalars(
            select(Contact.id).where(
                Contact.school_id == school_id, Contact.external_id == subject.contact
            )
        ).all()
        if not found:
            raise UnknownSubject("contact", f"no contact {subject.contact!r} at {school_slug}")
        return list(found)
    student_id = session.scalar(
        select(Student.id).where(
            Student.school_id == school_id, Student.external_id == subject.student
        )
    )
    if student_id is None:
        raise UnknownSubject("student", f"no student {subject.student!r} at {school_slug}")
    return list(
        session.scalars(
            select(StudentContact.contact_id)
            .where(StudentContact.student_id == student_id)
            .order_by(StudentContact.contact_id)
        )
    )


def _text(text: MessageText | None) -> tuple[str, str]:
    if text is None:
        return "", ""
    if text.erased_at is not None:
        return "", ERASED_TEXT
    return text.subject or "", text.body or ""


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _address(channel: str, contact: Contact) -> str:
    if channel == Channel.SMS.value:
        return contact.phone_e164 or ""
    if channel == Channel.EMAIL.value:
        return contact.email or ""
    return "app"  # push tokens are credentials of the family's device: never exported


def write_audit_csv(
    session: Session,
    school_slug: str,
    since: datetime | None,
    stream: TextIO,
    contact_ids: Sequence[int] | None = None,
) -> int:
    """Write the school's audit CSV (header ``AUDIT_COLUMNS``) to ``stream``; return the
    number of messages. Deliveries never attempted (pending, held, cancelled) are left out;
    ``since`` keeps deliveries created on or after it; ``contact_ids`` (see
    ``subject_contacts``) keeps only theirs. Each row has the subject and text the family
    read, where they were kept and not yet erased."""
    student = aliased(Student)
    query = (
        select(Delivery, Announcement, Contact, student, MessageText)
        .join(Announcement, Announcement.id == Delivery.announcement_id)
        .join(School, School.id == Announcement.school_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .outerjoin(student, student.id == Delivery.student_id)
        .outerjoin(MessageText, MessageText.id == Delivery.message_text_id)
        .where(
            School.slug == school_slug,
            or_(Delivery.sent_at.is_not(None), Delivery.claimed_at.is_not(None)),
        )
        .order_by(Delivery.created_at, Delivery.id)
        .execution_options(yield_per=1000)
    )
    if since is not None:
        query = query.where(Delivery.created_at >= since)
    if contact_ids is not None:
        query = query.where(Delivery.contact_id.in_(list(contact_ids)))
    writer = SafeWriter(stream)
    writer.writerow(AUDIT_COLUMNS)
    written = 0
    for delivery, announcement, contact, pupil, text in session.execute(query):
        writer.writerow(
            [
                _iso(delivery.sent_at),
                announcement.id,
                announcement.category,
                announcement.requested_by,
                announcement.trigger,
                delivery.id,
                delivery.kind,
                delivery.channel,
                pupil.external_id if pupil else "",
                f"{pupil.first_name} {pupil.last_name}" if pupil else "",
                contact.external_id,
                f"{contact.first_name} {contact.last_name}".strip(),
                _address(delivery.channel, contact),
                delivery.language,
                delivery.state,
                _iso(delivery.delivered_at),
                delivery.error_code or "",
                delivery.provider or "",
                delivery.provider_message_id or "",
                delivery.provider_requests,
                "yes" if delivery.possible_duplicate else "",
                *_text(text),
            ]
        )
        written += 1
    return written
