"""Queries for the office's call log: the calls made to families about an announcement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dispatcher.domain import CallOutcome
from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import (
    CallLog,
    Contact,
    Delivery,
    PlanOutcome,
    Student,
    StudentContact,
)


@dataclass(frozen=True)
class CallEntry:
    """One logged call, with the ids and names the office reads (MIS ids, not row ids)."""

    id: int
    contact_row: int
    student_row: int | None
    contact_id: str
    contact_name: str
    student_id: str
    student_name: str
    outcome: CallOutcome
    note: str
    called_by: str
    at: datetime

    def as_json(self) -> dict[str, str | int]:
        """The entry as the report, the CLI and the API show it."""
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
            "student_id": self.student_id,
            "student_name": self.student_name,
            "outcome": self.outcome.value,
            "note": self.note,
            "called_by": self.called_by,
            "at": self.at.isoformat(),
        }


def find_contact(session: Session, school_id: int, external_id: str) -> Contact | None:
    """The school's contact with the MIS id ``external_id``."""
    return session.scalar(
        select(Contact).where(Contact.school_id == school_id, Contact.external_id == external_id)
    )


def find_student(session: Session, school_id: int, external_id: str) -> Student | None:
    """The school's pupil with the MIS id ``external_id``."""
    return session.scalar(
        select(Student).where(Student.school_id == school_id, Student.external_id == external_id)
    )


def is_linked(session: Session, student_id: int, contact_id: int) -> bool:
    """True when the contact is one of the pupil's contacts."""
    return (
        session.scalar(
            select(StudentContact.contact_id).where(
                StudentContact.student_id == student_id, StudentContact.contact_id == contact_id
            )
        )
        is not None
    )


def student_messaged_for(session: Session, announcement_id: int, contact_id: int) -> int | None:
    """The pupil the announcement was for whose contact this is (the first, if several): by
    its deliveries, else by the contacts it found no channel for."""
    for table in (Delivery, PlanOutcome):
        found = session.scalar(
            select(table.student_id)
            .where(
                table.announcement_id == announcement_id,
                table.contact_id == contact_id,
                table.student_id.is_not(None),
            )
            .order_by(table.student_id)
            .limit(1)
        )
        if found is not None:
            return int(found)
    return None


def add_call(
    session: Session,
    announcement_id: int,
    contact_id: int,
    student_id: int | None,
    outcome: CallOutcome,
    note: str,
    called_by: str,
    at: datetime,
) -> CallLog:
    """Store one call (flushed, so it has its id); the caller commits."""
    call = CallLog(
        announcement_id=announcement_id,
        contact_id=contact_id,
        student_id=student_id,
        outcome=outcome.value,
        note=note,
        called_by=called_by,
        at=at,
    )
    session.add(call)
    session.flush()
    return call


def calls_of(session: Session, announcement_id: int) -> list[CallEntry]:
    """Every call logged for the announcement, oldest first."""
    student = aliased(Student)
    rows = session.execute(
        select(CallLog, Contact, student)
        .join(Contact, Contact.id == CallLog.contact_id)
        .outerjoin(student, student.id == CallLog.student_id)
        .where(CallLog.announcement_id == announcement_id)
        .order_by(CallLog.at, CallLog.id)
    ).all()
    return [call_entry(call, contact, pupil) for call, contact, pupil in rows]


def call_entry(call: CallLog, contact: Contact, pupil: Student | None) -> CallEntry:
    """The office's view of a stored call to ``contact`` about ``pupil``."""
    return CallEntry(
        id=call.id,
        contact_row=call.contact_id,
        student_row=call.student_id,
        contact_id=contact.external_id,
        contact_name=f"{contact.first_name} {contact.last_name}",
        student_id=pupil.external_id if pupil else "",
        student_name=f"{pupil.first_name} {pupil.last_name}" if pupil else "",
        outcome=CallOutcome(call.outcome),
        note=call.note,
        called_by=call.called_by,
        at=as_utc(call.at),
    )
