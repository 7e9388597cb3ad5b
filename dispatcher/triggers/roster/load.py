"""Writing a parsed roster to the database: upsert by the MIS ids, so re-importing the same
file changes nothing, a contact shared by siblings stays one contact, and a repeated row is one
link."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Contact,
    Group,
    GroupMembership,
    Student,
    StudentContact,
)
from dispatcher.triggers.roster.parse import SCHOOL_COLUMN, RosterRow, RowError


@dataclass
class ImportResult:
    """What an import did: rows imported, rows skipped with their errors, rows that changed."""

    imported: int = 0
    changed: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def skipped_lines(self) -> int:
        """How many distinct lines were skipped."""
        return len({e.line for e in self.errors})


def _set(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


class RosterWriter:
    """Upserts roster rows for one school, in the caller's transaction."""

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


def import_rows(
    session: Session,
    school_id: int,
    parsed: Iterable[RosterRow | RowError],
    *,
    commit_every: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write every good row, collect every error; commits in batches of ``commit_every``."""
    return import_rows_for_schools(
        session, {"": school_id}, parsed, default="", commit_every=commit_every, progress=progress
    )


def import_rows_for_schools(
    session: Session,
    school_ids: Mapping[str, int],
    parsed: Iterable[RosterRow | RowError],
    *,
    default: str | None = None,
    commit_every: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write every good row into the school its ``school`` column names (a slug of
    ``school_ids``, slug to school id), or into ``default`` for a row without the column;
    collect every error, including a row whose school is not one of ``school_ids`` (column
    ``school``). Commits in batches of ``commit_every``. A contact is a school's: a parent
    with children in two member schools is one contact in each."""
    writers: dict[int, RosterWriter] = {}
    choices = ", ".join(sorted(slug for slug in school_ids if slug)) or "none"
    result = ImportResult()
    seen_lines = 0
    for item in parsed:
        seen_lines += 1
        if isinstance(item, RowError):
            result.errors.append(item)
            continue
        slug = item.school if item.school is not None else default
        if slug is None:
            result.errors.append(RowError(item.line, SCHOOL_COLUMN, f"required: one of {choices}"))
            continue
        if slug not in school_ids:
            result.errors.append(
                RowError(item.line, SCHOOL_COLUMN, f"not a school of this import: one of {choices}")
            )
            continue
        school_id = school_ids[slug]
        writer = writers.get(school_id)
        if writer is None:
            writer = writers[school_id] = RosterWriter(session, school_id)
        result.changed += int(writer.write(item))
        result.imported += 1
        if result.imported % commit_every == 0:
            session.commit()
        if progress is not None:
            progress(seen_lines)
    session.commit()
    if result.changed:
        refresh_planner_statistics(session)
    return result


#: The tables a roster import writes.
ROSTER_TABLES = tuple(
    model.__tablename__ for model in (Student, Contact, StudentContact, Group, GroupMembership)
)


def refresh_planner_statistics(session: Session) -> None:
    """Bring PostgreSQL's statistics of the roster tables up to date (``ANALYZE``).

    Until autovacuum gets round to it (a minute or more later), PostgreSQL plans queries on
    the roster as it was before the import: an announcement sent straight after importing a
    school would have each batch look its pupils' names up by scanning the whole school.
    SQLite plans by its indexes and needs nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(ROSTER_TABLES)}"))
        session.commit()
