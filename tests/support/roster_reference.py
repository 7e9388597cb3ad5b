"""The roster import as it was before it wrote in batches (one row at a time, through the
ORM): the reference the batched writer (``dispatcher/triggers/roster/load.py``) must agree
with, row for row and count for count."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Contact,
    Group,
    GroupMembership,
    Student,
    StudentContact,
)
from dispatcher.triggers.roster.parse import RosterRow, RowError


def _set(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


class ReferenceRosterWriter:
    """Upserts roster rows for one school one at a time, through the ORM."""

    def __init__(self, session: Session, school_id: int) -> None:
        self._session = session
        self._school_id = school_id
        self._students = {
            s.external_id: s
            for s in session.scalars(select(Student).where(Student.school_id == school_id))
        }
        self._contacts = {
            c.external_id: c
            for c in session.scalars(select(Contact).where(Contact.school_id == school_id))
        }
        self._groups = {
            g.name: g for g in session.scalars(select(Group).where(Group.school_id == school_id))
        }
        self._links: dict[tuple[int, int], StudentContact] = {
            (link.student_id, link.contact_id): link
            for link in session.scalars(
                select(StudentContact)
                .join(Student, Student.id == StudentContact.student_id)
                .where(Student.school_id == school_id)
            )
        }
        self._memberships: set[tuple[int, int]] = {
            (group_id, student_id)
            for group_id, student_id in session.execute(
                select(GroupMembership.group_id, GroupMembership.student_id)
                .join(Group, Group.id == GroupMembership.group_id)
                .where(Group.school_id == school_id)
            )
        }

    def write(self, row: RosterRow) -> bool:
        """Upsert one row; return whether anything changed."""
        changed = False
        student = self._students.get(row.student_id)
        student_values: dict[str, object] = {
            "first_name": row.student_first_name,
            "last_name": row.student_last_name,
            "year": row.year,
            "class_name": row.class_name,
            "active": True,
        }
        if student is None:
            student = Student(
                school_id=self._school_id, external_id=row.student_id, **student_values
            )
            self._session.add(student)
            self._students[row.student_id] = student
            changed = True
        else:
            changed |= _set(student, student_values)

        contact = self._contacts.get(row.contact_id)
        contact_values: dict[str, object] = {
            "first_name": row.contact_first_name,
            "last_name": row.contact_last_name,
            "phone_e164": row.phone.e164 if row.phone else None,
            "phone_sms_capable": bool(row.phone and row.phone.sms_capable),
            "email": row.email,
            "preferred_channel": row.preferred_channel.value if row.preferred_channel else None,
            "language": row.language,
            "needs": ";".join(sorted(n.value for n in row.needs)),
            "opt_outs": ";".join(sorted(row.opt_outs)),
        }
        if contact is None:
            contact = Contact(
                school_id=self._school_id,
                external_id=row.contact_id,
                push_token=row.push_token,
                push_token_dead=False,
                **contact_values,
            )
            self._session.add(contact)
            self._contacts[row.contact_id] = contact
            changed = True
        else:
            changed |= _set(contact, contact_values)
            if row.push_token != contact.push_token:
                # A new token from the MIS is a live one until a provider says otherwise.
                contact.push_token, contact.push_token_dead = row.push_token, False
                changed = True
        if student.id is None or contact.id is None:
            self._session.flush()

        link_values: dict[str, object] = {
            "relationship": row.relationship,
            "priority": row.priority,
            "parental_responsibility": row.parental_responsibility,
            "no_contact": row.no_contact,
        }
        link = self._links.get((student.id, contact.id))
        if link is None:
            link = StudentContact(student_id=student.id, contact_id=contact.id, **link_values)
            self._session.add(link)
            self._links[(student.id, contact.id)] = link
            changed = True
        else:
            changed |= _set(link, link_values)

        for name in row.groups:
            group = self._groups.get(name)
            if group is None:
                group = Group(school_id=self._school_id, name=name)
                self._session.add(group)
                self._session.flush()
                self._groups[name] = group
            if (group.id, student.id) not in self._memberships:
                self._session.add(GroupMembership(group_id=group.id, student_id=student.id))
                self._memberships.add((group.id, student.id))
                changed = True
        return changed


def reference_import(
    session: Session, school_id: int, parsed: Iterable[RosterRow | RowError]
) -> tuple[int, int, list[RowError]]:
    """Import every good row one at a time: (rows imported, rows that changed, errors)."""
    writer = ReferenceRosterWriter(session, school_id)
    imported = changed = 0
    errors: list[RowError] = []
    for item in parsed:
        if isinstance(item, RowError):
            errors.append(item)
            continue
        changed += int(writer.write(item))
        imported += 1
    session.commit()
    return imported, changed, errors
