"""The batched roster writer stores what the row-by-row import stored, and counts the same
changed rows, on SQLite and PostgreSQL: a first import, a re-import changing some rows, a
re-import changing none, batches far smaller than the file, bad rows mixed in."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from demo_data.rosters import generate_roster_rows
from dispatcher.store.models import Contact, Group, GroupMembership, Student, StudentContact
from dispatcher.store.schools import ensure_school
from dispatcher.triggers.roster.load import ImportResult, import_rows
from dispatcher.triggers.roster.parse import parse_roster
from tests.support.factories import roster_text, row
from tests.support.roster_reference import reference_import

#: The batched writer's school and the reference's: same rows, compared table by table.
BATCHED, REFERENCE = "demo", "brockmoor"
#: Far smaller than the file, and not a divisor of it: rows of one student and of one shared
#: contact fall either side of a boundary.
SMALL_BATCH = 37


def _school_ids(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as session:
        ids = {
            s: ensure_school(session, runtime.configuration.school(s)).id
            for s in (BATCHED, REFERENCE)
        }
        session.commit()
        return ids


def _import_both(
    runtime: Any, rows: list[dict[str, str]], ids: dict[str, int]
) -> tuple[ImportResult, tuple[int, int, list[Any]]]:
    categories = runtime.configuration.policy.categories
    text = roster_text(rows)
    with runtime.sessions() as session:
        batched = import_rows(
            session,
            ids[BATCHED],
            parse_roster(io.StringIO(text), categories),
            commit_every=SMALL_BATCH,
        )
    with runtime.sessions() as session:
        reference = reference_import(
            session, ids[REFERENCE], parse_roster(io.StringIO(text), categories)
        )
    return batched, reference


def _snapshot(session: Session, school_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the roster stored for the school, by MIS ids and group names."""
    students = session.execute(
        select(
            Student.external_id,
            Student.first_name,
            Student.last_name,
            Student.year,
            Student.class_name,
            Student.active,
        ).where(Student.school_id == school_id)
    ).all()
    contacts = session.execute(
        select(
            Contact.external_id,
            Contact.first_name,
            Contact.last_name,
            Contact.phone_e164,
            Contact.phone_sms_capable,
            Contact.email,
            Contact.preferred_channel,
            Contact.language,
            Contact.needs,
            Contact.opt_outs,
            Contact.push_token,
            Contact.push_token_dead,
        ).where(Contact.school_id == school_id)
    ).all()
    links = session.execute(
        select(
            Student.external_id,
            Contact.external_id,
            StudentContact.relationship,
            StudentContact.priority,
            StudentContact.parental_responsibility,
            StudentContact.no_contact,
        )
        .select_from(StudentContact)
        .join(Student, Student.id == StudentContact.student_id)
        .join(Contact, Contact.id == StudentContact.contact_id)
        .where(Student.school_id == school_id)
    ).all()
    memberships = session.execute(
        select(Group.name, Student.external_id)
        .select_from(GroupMembership)
        .join(Group, Group.id == GroupMembership.group_id)
        .join(Student, Student.id == GroupMembership.student_id)
        .where(Group.school_id == school_id)
    ).all()
    return {
        "students": sorted(tuple(r) for r in students),
        "contacts": sorted(tuple(r) for r in contacts),
        "links": sorted(tuple(r) for r in links),
        "memberships": sorted(tuple(r) for r in memberships),
    }


def _assert_same_tables(runtime: Any, ids: dict[str, int]) -> dict[str, list[tuple[Any, ...]]]:
    with runtime.sessions() as session:
        batched = _snapshot(session, ids[BATCHED])
        assert batched == _snapshot(session, ids[REFERENCE])
    return batched


def _roster(contradicting: bool = True) -> list[dict[str, str]]:
    """A realistic roster (siblings sharing parents, groups, tokens, a few bad rows) with a
    row repeated and, if ``contradicting``, a contact changed within the file, so a later
    row wins (and each import of it changes that contact twice)."""
    rows = list(generate_roster_rows("demo", 120, seed=7))
    rows.append(dict(rows[5]))  # the same link twice: one link, not changed the second time
    if contradicting:
        rows.append({**rows[8], "contact_first_name": "Renamed", "relationship": "carer"})
    return rows


def _five_percent_changed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Every twentieth row changed in a way the office would see (a name, a number, a group,
    a token, a flag), and two new families."""
    changed = [dict(r) for r in rows]
    edits = (
        ("student_first_name", "Changed"),
        ("mobile", "07700 900999"),
        ("groups", "choir;new-club"),
        ("push_token", "new-token-from-the-mis"),
        ("no_contact", "Y"),
        ("email", ""),
    )
    for number, index in enumerate(range(0, len(changed), 20)):
        column, value = edits[number % len(edits)]
        changed[index][column] = value
    changed.append(row(student_id="NEW-S1", contact_id="NEW-C1", groups="new-club"))
    changed.append(row(student_id="NEW-S2", contact_id="NEW-C1", student_first_name="Byron"))
    return changed


def test_first_import_stores_and_counts_what_the_row_by_row_import_did(runtime: Any) -> None:
    ids = _school_ids(runtime)
    rows = _roster()

    batched, (imported, changed, errors) = _import_both(runtime, rows, ids)

    assert len(rows) > 4 * SMALL_BATCH
    assert errors, "the roster has bad rows mixed in"
    assert [(e.line, e.column, e.reason) for e in batched.errors] == [
        (e.line, e.column, e.reason) for e in errors
    ]
    assert (batched.imported, batched.changed) == (imported, changed)
    assert batched.changed < batched.imported  # the repeated row changed nothing
    tables = _assert_same_tables(runtime, ids)
    assert len(tables["students"]) == 120 and tables["memberships"]


def test_a_reimport_changing_some_rows_counts_exactly_those(runtime: Any) -> None:
    ids = _school_ids(runtime)
    rows = _roster()
    _import_both(runtime, rows, ids)
    with runtime.sessions() as session:  # a provider said these tokens were dead
        session.execute(
            update(Contact).where(Contact.push_token.is_not(None)).values(push_token_dead=True)
        )
        session.commit()

    batched, (imported, changed, _) = _import_both(runtime, _five_percent_changed(rows), ids)

    assert (batched.imported, batched.changed) == (imported, changed)
    assert 0 < batched.changed < batched.imported // 5
    tables = _assert_same_tables(runtime, ids)
    tokens = {(c[10], c[11]) for c in tables["contacts"] if c[10]}
    assert ("new-token-from-the-mis", False) in tokens  # a new token is a live one
    assert any(dead for _, dead in tokens)  # an unchanged token keeps what providers said


def test_a_reimport_of_the_same_file_changes_nothing(runtime: Any) -> None:
    ids = _school_ids(runtime)
    rows = _roster(contradicting=False)
    first, _ = _import_both(runtime, rows, ids)
    before = _assert_same_tables(runtime, ids)

    again, (imported, changed, _) = _import_both(runtime, rows, ids)

    assert (again.imported, again.changed) == (first.imported, 0) == (imported, changed)
    assert _assert_same_tables(runtime, ids) == before
