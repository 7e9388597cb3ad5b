"""Who a contact is, for the office: names, numbers and the pupils they are linked to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Contact,
    Student,
)


def describe_contacts(
    session: Session, entries: list[tuple[int, int | None, str]]
) -> list[dict[str, str]]:
    """Who the office should phone: ids, names, phone numbers (E.164) and the recorded needs
    (as stored, ``;``-separated), with the reason."""
    if not entries:
        return []
    contact_ids = {c for c, _, _ in entries}
    student_ids = {s for _, s, _ in entries if s is not None}
    contacts = {
        row.id: row
        for row in session.execute(
            select(
                Contact.id,
                Contact.external_id,
                Contact.first_name,
                Contact.last_name,
                Contact.phone_e164,
                Contact.needs,
            ).where(Contact.id.in_(contact_ids))
        )
    }
    students = {
        row.id: row
        for row in session.execute(
            select(Student.id, Student.external_id, Student.first_name, Student.last_name).where(
                Student.id.in_(student_ids)
            )
        )
    }
    described = []
    for contact_id, student_id, reason in entries:
        contact = contacts[contact_id]
        student = students.get(student_id) if student_id is not None else None
        described.append(
            {
                "student_id": student.external_id if student else "",
                "student_name": f"{student.first_name} {student.last_name}" if student else "",
                "contact_id": contact.external_id,
                "contact_name": f"{contact.first_name} {contact.last_name}",
                "phone": contact.phone_e164 or "",
                "needs": contact.needs or "",
                "reason": reason,
            }
        )
    return described
