"""The audit export: every message the dispatcher attempted to a family of one school.

One CSV row per delivery that was handed to (or refused by) a provider, oldest first, with
the announcement, the student and contact it concerned, the channel and address, and what
became of it. It holds personal data by design (it is the school's record of what it sent);
nothing of it is logged. Cells a spreadsheet would evaluate are escaped
(``dispatcher.reporting.csv_safe``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, TextIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from dispatcher.domain import Channel
from dispatcher.reporting.csv_safe import SafeWriter
from dispatcher.store.models import Announcement, Contact, Delivery, School, Student

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
)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _address(channel: str, contact: Contact) -> str:
    if channel == Channel.SMS.value:
        return contact.phone_e164 or ""
    if channel == Channel.EMAIL.value:
        return contact.email or ""
    return "app"  # push tokens are credentials of the family's device: never exported


def write_audit_csv(
    session: Session, school_slug: str, since: datetime | None, stream: TextIO
) -> int:
    """Write the school's audit CSV (header ``AUDIT_COLUMNS``) to ``stream``; return the
    number of messages. Deliveries never attempted (pending, held, cancelled) are left out;
    ``since`` keeps deliveries created on or after it."""
    student = aliased(Student)
    query = (
        select(Delivery, Announcement, Contact, student)
        .join(Announcement, Announcement.id == Delivery.announcement_id)
        .join(School, School.id == Announcement.school_id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .outerjoin(student, student.id == Delivery.student_id)
        .where(
            School.slug == school_slug,
            or_(Delivery.sent_at.is_not(None), Delivery.claimed_at.is_not(None)),
        )
        .order_by(Delivery.created_at, Delivery.id)
        .execution_options(yield_per=1000)
    )
    if since is not None:
        query = query.where(Delivery.created_at >= since)
    writer = SafeWriter(stream)
    writer.writerow(AUDIT_COLUMNS)
    written = 0
    for delivery, announcement, contact, pupil in session.execute(query):
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
            ]
        )
        written += 1
    return written
