"""The office's call log: a call made to a family about an announcement, and what came of it
(reached, no answer, voicemail, wrong number), recorded with who called and when, and in the
audit log. A family told by phone leaves the list of families to phone (decision 0084).

The note may name people: it is stored, never logged, and kept out of the audit entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.domain import CallOutcome
from dispatcher.plain_text import plain_text_problem
from dispatcher.store.calls import (
    CallEntry,
    add_call,
    call_entry,
    find_contact,
    find_student,
    is_linked,
    student_messaged_for,
)
from dispatcher.store.models import Announcement, AuditEntry, Student

#: The longest note a call may carry.
MAX_NOTE = 500


class CallLogError(ValueError):
    """The call cannot be logged as given; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _outcome(value: str) -> CallOutcome:
    try:
        return CallOutcome(value.strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        known = ", ".join(o.value for o in CallOutcome)
        raise CallLogError("outcome", f"expected one of {known}") from None


def _note(value: str) -> str:
    if len(value) > MAX_NOTE:
        raise CallLogError("note", f"at most {MAX_NOTE} characters (it has {len(value)})")
    problem = plain_text_problem(value)
    if problem is not None:
        raise CallLogError("note", problem)
    return value.strip()


def log_call(
    session: Session,
    announcement_id: int,
    *,
    contact: str,
    student: str | None,
    outcome: str,
    note: str,
    called_by: str,
    now: datetime,
) -> CallEntry:
    """Record that ``called_by`` phoned ``contact`` (an MIS id of the announcement's school)
    about ``student`` (an MIS id; by default the pupil the announcement messaged them
    about), with ``outcome`` and ``note``; write the audit entry and commit. Raises
    ``CallLogError`` naming the field for an unknown announcement, contact or pupil, a pupil
    who is not the contact's, an unknown outcome or a bad note; nothing is stored then."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise CallLogError("announcement_id", f"no announcement {announcement_id}")
    kind, text = _outcome(outcome), _note(note)
    called_by = called_by.strip()
    if not called_by or len(called_by) > 100:
        raise CallLogError("called_by", "name who called, in at most 100 characters")
    person = find_contact(session, announcement.school_id, contact.strip())
    if person is None:
        raise CallLogError("contact", "no contact with that id in the announcement's school")
    pupil_id: int | None
    if student:
        pupil = find_student(session, announcement.school_id, student.strip())
        if pupil is None:
            raise CallLogError("student", "no pupil with that id in the announcement's school")
        if not is_linked(session, pupil.id, person.id):
            raise CallLogError("student", "that contact is not one of this pupil's contacts")
        pupil_id = pupil.id
    else:
        pupil_id = student_messaged_for(session, announcement_id, person.id)
    call = add_call(session, announcement_id, person.id, pupil_id, kind, text, called_by, now)
    session.add(
        AuditEntry(
            at=now,
            actor=called_by,
            action="call.logged",
            school_id=announcement.school_id,
            announcement_id=announcement_id,
            detail={"call_id": call.id, "contact": person.external_id, "outcome": kind.value},
        )
    )
    entry = call_entry(call, person, session.get(Student, pupil_id) if pupil_id else None)
    session.commit()
    return entry
