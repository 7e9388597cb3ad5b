"""What the console's audience step offers: a school's years, classes and groups (with how
many active students each has) and its students found by name. Queries only; a school with
no roster (no row yet) has nothing to offer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dispatcher.store.models import Group, GroupMembership, School, Student

#: The most students a search lists.
SEARCH_LIMIT = 20


@dataclass(frozen=True)
class Choice:
    """One checkbox: a year, class or group, and its active students."""

    value: str
    students: int


@dataclass(frozen=True)
class AudienceChoices:
    """A school's years (as numbers in text: ``"6"``, ``"0"``), classes and groups."""

    years: list[Choice]
    classes: list[Choice]
    groups: list[Choice]


@dataclass(frozen=True)
class StudentMatch:
    """An active student, as a search lists them."""

    external_id: str
    first_name: str
    last_name: str
    year: int | None
    class_name: str | None


def _school_id(session: Session, slug: str) -> int | None:
    return session.scalar(select(School.id).where(School.slug == slug))


def audience_choices(session: Session, slug: str) -> AudienceChoices:
    """The years, classes and groups of school ``slug`` that have active students, in
    order (years by number, classes and groups by name)."""
    school_id = _school_id(session, slug)
    if school_id is None:
        return AudienceChoices([], [], [])
    active = (Student.school_id == school_id, Student.active.is_(True))
    years = session.execute(
        select(Student.year, func.count())
        .where(*active, Student.year.is_not(None))
        .group_by(Student.year)
        .order_by(Student.year)
    ).all()
    classes = session.execute(
        select(Student.class_name, func.count())
        .where(*active, Student.class_name.is_not(None), Student.class_name != "")
        .group_by(Student.class_name)
        .order_by(Student.class_name)
    ).all()
    groups = session.execute(
        select(Group.name, func.count())
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .join(Student, Student.id == GroupMembership.student_id)
        .where(Group.school_id == school_id, *active)
        .group_by(Group.name)
        .order_by(Group.name)
    ).all()
    return AudienceChoices(
        years=[Choice(str(year), n) for year, n in years],
        classes=[Choice(name or "", n) for name, n in classes],
        groups=[Choice(name, n) for name, n in groups],
    )


def _match(row: tuple[str, str, str, int | None, str | None]) -> StudentMatch:
    return StudentMatch(*row)


_COLUMNS = (
    Student.external_id,
    Student.first_name,
    Student.last_name,
    Student.year,
    Student.class_name,
)


def search_students(
    session: Session, slug: str, text: str, limit: int = SEARCH_LIMIT
) -> list[StudentMatch]:
    """Active students of school ``slug`` whose first name, last name or full name contains
    ``text`` (any case), by last then first name, at most ``limit``; none for blank text."""
    # LIKE's own wildcards and control characters are dropped: a name never has them.
    words = re.sub(r"[\\%_\x00-\x1f\x7f]", "", " ".join(text.split()).lower()).strip()
    school_id = _school_id(session, slug) if words else None
    if school_id is None:
        return []
    pattern = f"%{words}%"
    full_name = func.lower(Student.first_name + " " + Student.last_name)
    rows = session.execute(
        select(*_COLUMNS)
        .where(
            Student.school_id == school_id,
            Student.active.is_(True),
            or_(
                func.lower(Student.first_name).like(pattern),
                func.lower(Student.last_name).like(pattern),
                full_name.like(pattern),
            ),
        )
        .order_by(Student.last_name, Student.first_name, Student.external_id)
        .limit(limit)
    ).all()
    return [_match(tuple(row)) for row in rows]  # type: ignore[arg-type]


def students_by_id(session: Session, slug: str, external_ids: Iterable[str]) -> list[StudentMatch]:
    """The active students of school ``slug`` with these MIS ids, by last then first name
    (ids that match no one are left out)."""
    wanted = sorted(set(external_ids))
    school_id = _school_id(session, slug)
    if not wanted or school_id is None:
        return []
    rows = session.execute(
        select(*_COLUMNS)
        .where(
            Student.school_id == school_id,
            Student.active.is_(True),
            Student.external_id.in_(wanted),
        )
        .order_by(Student.last_name, Student.first_name, Student.external_id)
    ).all()
    return [_match(tuple(row)) for row in rows]  # type: ignore[arg-type]
