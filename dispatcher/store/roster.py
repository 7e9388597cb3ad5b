"""The roster import's queries: read what one batch of rows touches, write many rows in one
statement. ``triggers/roster/load.py`` decides what changed; these only read and write.

Each write is one ``INSERT ... ON CONFLICT DO UPDATE`` for the whole batch, so a batch of
thousands of rows is a handful of statements, not one per row (decision 0075). On PostgreSQL
the rows travel as one JSON document (``INSERT ... SELECT * FROM json_to_recordset(...)``)
and a read matches ``IN (SELECT unnest(array))``: a statement of one or two parameters
whatever the batch's size, which psycopg sends as it is. (A multi-row ``VALUES`` list, SQLAlchemy's
default, makes psycopg rewrite a query of 13,000 placeholders a page: that took longer than
the database.) SQLite takes the ``VALUES`` list, in SQLAlchemy's pages, under its limit of
bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Table, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dispatcher.store.models import Contact, Group, GroupMembership, Student, StudentContact

#: The columns of a student the roster sets, in the order of :attr:`StoredRow.values`.
STUDENT_COLUMNS: Final = ("first_name", "last_name", "year", "class_name", "active")
#: The columns of a contact the roster sets (``push_token_dead`` follows the token).
CONTACT_COLUMNS: Final = (
    "first_name",
    "last_name",
    "phone_e164",
    "phone_sms_capable",
    "email",
    "preferred_channel",
    "language",
    "needs",
    "opt_outs",
    "push_token",
    "push_token_dead",
)
#: The columns of a student-contact link the roster sets.
LINK_COLUMNS: Final = ("relationship", "priority", "parental_responsibility", "no_contact")

_STUDENTS: Final[Table] = Student.__table__  # type: ignore[assignment]
_CONTACTS: Final[Table] = Contact.__table__  # type: ignore[assignment]
_LINKS: Final[Table] = StudentContact.__table__  # type: ignore[assignment]
_GROUPS: Final[Table] = Group.__table__  # type: ignore[assignment]
_MEMBERSHIPS: Final[Table] = GroupMembership.__table__  # type: ignore[assignment]

#: At most this many values in one ``IN (...)`` list: far under PostgreSQL's 65,535 bound
#: parameters and SQLite's 32,766.
_IN_LIST_LIMIT: Final = 5000


@dataclass(frozen=True)
class StoredRow:
    """A student or contact as stored: its id and the roster's columns, in column order."""

    id: int
    values: tuple[Any, ...]


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _matches(
    session: Session, column: Any, values: Collection[Any]
) -> Iterable[ColumnElement[bool]]:
    """Conditions that together select the rows whose ``column`` is one of ``values``: one
    ``IN (SELECT unnest(array))`` on PostgreSQL, ``IN`` lists of at most ``_IN_LIST_LIMIT``
    elsewhere."""
    listed = list(values)
    if not listed:
        return
    if _is_postgresql(session):
        # IN (SELECT unnest(array)), not = ANY(array): while the tables are filling, their
        # statistics still say "empty" (ANALYZE comes at the end), and PostgreSQL then
        # scans them comparing each row with every element of the array, a batch slower
        # than the one before. The subquery is hashed or looked up by index instead.
        wanted = bindparam(None, listed, type_=postgresql.ARRAY(column.type))
        yield column.in_(select(func.unnest(wanted)).scalar_subquery())
        return
    for start in range(0, len(listed), _IN_LIST_LIMIT):
        yield column.in_(listed[start : start + _IN_LIST_LIMIT])


def _postgresql_upsert(
    session: Session,
    table: Table,
    keys: Sequence[str],
    updated: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (keys, updated) SELECT * FROM json_to_recordset(the rows) ON
    CONFLICT (keys) DO UPDATE SET updated`` (``DO NOTHING`` when ``updated`` is None), each
    of ``rows`` holding the values of ``keys`` then ``updated``. The rows travel as one JSON
    document: Python's C encoder and PostgreSQL's decoder are several times quicker than
    psycopg's adaptation of a Python list per column."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = [*keys, *(updated or ())]
    record_type = ", ".join(
        f"{quote(name)} {table.c[name].type.compile(dialect=dialect)}" for name in columns
    )
    if updated:
        action = "UPDATE SET " + ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in updated)
    else:
        action = "NOTHING"
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in columns)}) "
        f"SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS batch({record_type}) "
        f"ON CONFLICT ({', '.join(quote(n) for n in keys)}) DO {action}"
    )
    if returning:
        statement += " RETURNING " + ", ".join(quote(n) for n in returning)
    document = json.dumps([dict(zip(columns, row, strict=True)) for row in rows])
    result = session.execute(text(statement), {"rows": document})
    return [tuple(record) for record in result] if returning else []


def _insert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"roster import: no upsert for the {dialect} database")


def _stored_by_external_id(
    session: Session, table: Table, columns: Sequence[str], school_id: int, external_ids: set[str]
) -> dict[str, StoredRow]:
    stored: dict[str, StoredRow] = {}
    selected = [table.c.id, table.c.external_id, *(table.c[name] for name in columns)]
    for matching in _matches(session, table.c.external_id, external_ids):
        for record in session.execute(
            select(*selected).where(table.c.school_id == school_id, matching)
        ):
            stored[record[1]] = StoredRow(id=record[0], values=tuple(record[2:]))
    return stored


def stored_students(
    session: Session, school_id: int, external_ids: set[str]
) -> dict[str, StoredRow]:
    """The school's students with these MIS ids, by MIS id (ids not stored are absent)."""
    return _stored_by_external_id(session, _STUDENTS, STUDENT_COLUMNS, school_id, external_ids)


def stored_contacts(
    session: Session, school_id: int, external_ids: set[str]
) -> dict[str, StoredRow]:
    """The school's contacts with these MIS ids, by MIS id (ids not stored are absent)."""
    return _stored_by_external_id(session, _CONTACTS, CONTACT_COLUMNS, school_id, external_ids)


def stored_links(
    session: Session, student_ids: Collection[int], contact_ids: Collection[int]
) -> dict[tuple[int, int], tuple[Any, ...]]:
    """The links between these students and these contacts, by (student id, contact id):
    the :data:`LINK_COLUMNS` values."""
    links: dict[tuple[int, int], tuple[Any, ...]] = {}
    wanted_contacts = set(contact_ids)
    for matching in _matches(session, _LINKS.c.student_id, student_ids):
        for record in session.execute(
            select(
                _LINKS.c.student_id,
                _LINKS.c.contact_id,
                *(_LINKS.c[name] for name in LINK_COLUMNS),
            ).where(matching)
        ):
            if record[1] in wanted_contacts:
                links[(record[0], record[1])] = tuple(record[2:])
    return links


def stored_memberships(session: Session, student_ids: Collection[int]) -> set[tuple[int, int]]:
    """The (group id, student id) memberships of these students."""
    memberships: set[tuple[int, int]] = set()
    for matching in _matches(session, _MEMBERSHIPS.c.student_id, student_ids):
        memberships.update(
            (group_id, student_id)
            for group_id, student_id in session.execute(
                select(_MEMBERSHIPS.c.group_id, _MEMBERSHIPS.c.student_id).where(matching)
            )
        )
    return memberships


def group_ids(session: Session, school_id: int) -> dict[str, int]:
    """The school's groups: name to id."""
    return {
        name: group_id
        for group_id, name in session.execute(
            select(_GROUPS.c.id, _GROUPS.c.name).where(_GROUPS.c.school_id == school_id)
        )
    }


def add_groups(session: Session, school_id: int, names: Collection[str]) -> dict[str, int]:
    """Create the school's groups of these names (those that exist are kept) and return
    the ids of all of them, by name."""
    if not names:
        return {}
    session.execute(
        _insert(session, _GROUPS).on_conflict_do_nothing(index_elements=["school_id", "name"]),
        [{"school_id": school_id, "name": name} for name in names],
    )
    found: dict[str, int] = {}
    for matching in _matches(session, _GROUPS.c.name, names):
        found.update(
            (name, group_id)
            for group_id, name in session.execute(
                select(_GROUPS.c.id, _GROUPS.c.name).where(
                    _GROUPS.c.school_id == school_id, matching
                )
            )
        )
    return found


def _upsert_by_external_id(
    session: Session,
    table: Table,
    columns: Sequence[str],
    school_id: int,
    values_by_external_id: Mapping[str, tuple[Any, ...]],
) -> dict[str, int]:
    if not values_by_external_id:
        return {}
    if _is_postgresql(session):
        stored = _postgresql_upsert(
            session,
            table,
            ("school_id", "external_id"),
            columns,
            [
                (school_id, external_id, *values)
                for external_id, values in values_by_external_id.items()
            ],
            returning=("external_id", "id"),
        )
        return {external_id: row_id for external_id, row_id in stored}
    insert = _insert(session, table)
    statement = insert.on_conflict_do_update(
        index_elements=["school_id", "external_id"],
        set_={name: insert.excluded[name] for name in columns},
    ).returning(table.c.external_id, table.c.id)
    parameters = [
        {
            "school_id": school_id,
            "external_id": external_id,
            **dict(zip(columns, values, strict=True)),
        }
        for external_id, values in values_by_external_id.items()
    ]
    return {external_id: row_id for external_id, row_id in session.execute(statement, parameters)}


def upsert_students(
    session: Session, school_id: int, values_by_external_id: Mapping[str, tuple[Any, ...]]
) -> dict[str, int]:
    """Insert or update the school's students (MIS id to :data:`STUDENT_COLUMNS` values);
    returns their ids by MIS id."""
    return _upsert_by_external_id(
        session, _STUDENTS, STUDENT_COLUMNS, school_id, values_by_external_id
    )


def upsert_contacts(
    session: Session, school_id: int, values_by_external_id: Mapping[str, tuple[Any, ...]]
) -> dict[str, int]:
    """Insert or update the school's contacts (MIS id to :data:`CONTACT_COLUMNS` values);
    returns their ids by MIS id."""
    return _upsert_by_external_id(
        session, _CONTACTS, CONTACT_COLUMNS, school_id, values_by_external_id
    )


def upsert_links(
    session: Session, values_by_ids: Mapping[tuple[int, int], tuple[Any, ...]]
) -> None:
    """Insert or update links ((student id, contact id) to :data:`LINK_COLUMNS` values)."""
    if not values_by_ids:
        return
    if _is_postgresql(session):
        _postgresql_upsert(
            session,
            _LINKS,
            ("student_id", "contact_id"),
            LINK_COLUMNS,
            [(*ids, *values) for ids, values in values_by_ids.items()],
        )
        return
    insert = _insert(session, _LINKS)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["student_id", "contact_id"],
            set_={name: insert.excluded[name] for name in LINK_COLUMNS},
        ),
        [
            {
                "student_id": student_id,
                "contact_id": contact_id,
                **dict(zip(LINK_COLUMNS, values, strict=True)),
            }
            for (student_id, contact_id), values in values_by_ids.items()
        ],
    )


def add_memberships(session: Session, memberships: Collection[tuple[int, int]]) -> None:
    """Add (group id, student id) memberships; those that exist are kept."""
    if not memberships:
        return
    if _is_postgresql(session):
        _postgresql_upsert(
            session, _MEMBERSHIPS, ("group_id", "student_id"), None, list(memberships)
        )
        return
    session.execute(
        _insert(session, _MEMBERSHIPS).on_conflict_do_nothing(
            index_elements=["group_id", "student_id"]
        ),
        [{"group_id": group_id, "student_id": student_id} for group_id, student_id in memberships],
    )
