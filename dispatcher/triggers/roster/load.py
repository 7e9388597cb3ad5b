"""Writing a parsed roster to the database: upsert by the MIS ids, so re-importing the same
file changes nothing, a contact shared by siblings stays one contact, and a repeated row is one
link."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from dispatcher.store.models import (
    Contact,
    Group,
    GroupMembership,
    Student,
    StudentContact,
)
from dispatcher.store.roster import (
    add_groups,
    add_memberships,
    group_ids,
    stored_contacts,
    stored_links,
    stored_memberships,
    stored_students,
    upsert_contacts,
    upsert_links,
    upsert_students,
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


#: Rows written per batch (and per commit): a batch is read with one query a table and
#: written with one multi-row statement a table; the import holds one batch at a time, so
#: its memory does not grow with the file (decision 0075).
BATCH_ROWS: Final = 5000

_Item = TypeVar("_Item")


def read_ahead(items: Iterable[_Item], size: int) -> Iterator[list[_Item]]:
    """``items`` in lists of ``size`` (the last may be shorter), in order; while the caller
    works on one list the next is already being read, in a thread of its own. An error
    reading ``items`` is raised here, at the list it would have been in."""
    iterator = iter(items)

    def take() -> list[_Item]:
        return list(itertools.islice(iterator, size))

    # One thread, one list ahead: the file is read by one thread at a time, in order, and
    # the import holds at most two lists. Reading is Python (it holds the GIL) while the
    # write of the list before waits for PostgreSQL (which releases it): the two overlap.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-read") as reader:
        upcoming = reader.submit(take)
        while chunk := upcoming.result():
            upcoming = reader.submit(take)
            yield chunk


def _student_values(row: RosterRow) -> tuple[object, ...]:
    """The row's student, in :data:`STUDENT_COLUMNS` order."""
    return (row.student_first_name, row.student_last_name, row.year, row.class_name, True)


def _contact_values(row: RosterRow, stored: tuple[object, ...] | None) -> tuple[object, ...]:
    """The row's contact, in :data:`CONTACT_COLUMNS` order. A new token from the MIS is a
    live one until a provider says otherwise; the same token keeps what providers said."""
    token_dead = stored[-1] if stored is not None and stored[-2] == row.push_token else False
    return (
        row.contact_first_name,
        row.contact_last_name,
        row.phone.e164 if row.phone else None,
        bool(row.phone and row.phone.sms_capable),
        row.email,
        row.preferred_channel.value if row.preferred_channel else None,
        row.language,
        ";".join(sorted(n.value for n in row.needs)),
        ";".join(sorted(row.opt_outs)),
        row.push_token,
        token_dead,
    )


def _link_values(row: RosterRow) -> tuple[object, ...]:
    """The row's student-contact link, in :data:`LINK_COLUMNS` order."""
    return (row.relationship, row.priority, row.parental_responsibility, row.no_contact)


class RosterWriter:
    """Upserts batches of roster rows for one school, in the caller's transaction."""

    def __init__(self, session: Session, school_id: int) -> None:
        self._session = session
        self._school_id = school_id
        self._groups = group_ids(session, school_id)

    def write(self, rows: Sequence[RosterRow]) -> int:
        """Upsert ``rows`` (in file order: a later row about the same student, contact or
        link wins) and return how many of them changed anything: a row that adds or alters
        its student, its contact, their link or one of the student's group memberships.

        What is stored is read once for the whole batch; each row is compared with the
        stored state as the rows before it left it, so the count is the one a row-by-row
        import would give; only new and changed students, contacts and links are written.
        """
        session, school_id = self._session, self._school_id
        stored_student_rows = stored_students(session, school_id, {row.student_id for row in rows})
        stored_contact_rows = stored_contacts(session, school_id, {row.contact_id for row in rows})
        students = {
            external_id: stored.values for external_id, stored in stored_student_rows.items()
        }
        contacts = {
            external_id: stored.values for external_id, stored in stored_contact_rows.items()
        }
        student_ids = {
            external_id: stored.id for external_id, stored in stored_student_rows.items()
        }
        contact_ids = {
            external_id: stored.id for external_id, stored in stored_contact_rows.items()
        }
        external_student = {row_id: external_id for external_id, row_id in student_ids.items()}
        external_contact = {row_id: external_id for external_id, row_id in contact_ids.items()}
        links = {
            (external_student[student_id], external_contact[contact_id]): values
            for (student_id, contact_id), values in stored_links(
                session, student_ids.values(), contact_ids.values()
            ).items()
        }
        memberships = {
            (group_id, external_student[student_id])
            for group_id, student_id in stored_memberships(session, student_ids.values())
        }
        missing_groups = {name for row in rows for name in row.groups} - self._groups.keys()
        self._groups.update(add_groups(session, school_id, missing_groups))

        changed_students: dict[str, tuple[object, ...]] = {}
        changed_contacts: dict[str, tuple[object, ...]] = {}
        changed_links: dict[tuple[str, str], tuple[object, ...]] = {}
        new_memberships: set[tuple[int, str]] = set()
        changed_rows = 0
        for row in rows:
            changed = False
            student = _student_values(row)
            if students.get(row.student_id) != student:
                students[row.student_id] = changed_students[row.student_id] = student
                changed = True
            contact = _contact_values(row, contacts.get(row.contact_id))
            if contacts.get(row.contact_id) != contact:
                contacts[row.contact_id] = changed_contacts[row.contact_id] = contact
                changed = True
            link_key = (row.student_id, row.contact_id)
            link = _link_values(row)
            if links.get(link_key) != link:
                links[link_key] = changed_links[link_key] = link
                changed = True
            for name in row.groups:
                membership = (self._groups[name], row.student_id)
                if membership not in memberships:
                    memberships.add(membership)
                    new_memberships.add(membership)
                    changed = True
            changed_rows += changed

        student_ids.update(upsert_students(session, school_id, changed_students))
        contact_ids.update(upsert_contacts(session, school_id, changed_contacts))
        upsert_links(
            session,
            {
                (student_ids[student], contact_ids[contact]): values
                for (student, contact), values in changed_links.items()
            },
        )
        add_memberships(
            session, {(group_id, student_ids[student]) for group_id, student in new_memberships}
        )
        return changed_rows


def import_rows(
    session: Session,
    school_id: int,
    parsed: Iterable[RosterRow | RowError],
    *,
    commit_every: int = BATCH_ROWS,
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
    commit_every: int = BATCH_ROWS,
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
    batch: dict[int, list[RosterRow]] = {}
    batch_rows = 0

    def write_batch() -> None:
        nonlocal batch_rows
        for school_id, rows in batch.items():
            writer = writers.get(school_id)
            if writer is None:
                writer = writers[school_id] = RosterWriter(session, school_id)
            result.changed += writer.write(rows)
        session.commit()
        result.imported += batch_rows
        batch.clear()
        batch_rows = 0
        if progress is not None:
            progress(seen_lines)

    for item in (item for chunk in read_ahead(parsed, commit_every) for item in chunk):
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
        batch.setdefault(school_ids[slug], []).append(item)
        batch_rows += 1
        if batch_rows >= commit_every:
            write_batch()
    write_batch()
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
