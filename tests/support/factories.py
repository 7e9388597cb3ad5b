"""Factories for tests: roster rows, imported rosters, announcements and plans."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatcher.planning.plan import plan_announcement
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.store.schools import ensure_school
from dispatcher.triggers.announcements import AnnouncementRequest, create_announcement
from dispatcher.triggers.roster.load import ImportResult, import_rows
from dispatcher.triggers.roster.parse import ROSTER_COLUMNS, parse_roster

CLOSURE_VARS = {"date": "Tuesday 24 November", "reason": "heavy snow"}

#: The named person who sends the tests' urgent announcements (``--as``; decision 0076).
SENDER = "Jo Bloggs (office)"


def closure_args(*extra: str, school: str = "demo", trust: str | None = None) -> list[str]:
    """The CLI arguments of an emergency closure to the whole of ``school`` (or of every
    member school of ``trust``), sent ``--as`` ``SENDER``, followed by ``extra``."""
    where = ["--trust", trust] if trust else ["--school", school]
    variables = [arg for key, value in CLOSURE_VARS.items() for arg in ("--var", f"{key}={value}")]
    return [
        "announce",
        *where,
        "--category",
        "emergency_closure",
        "--audience",
        "school",
        *variables,
        "--as",
        SENDER,
        *extra,
    ]


def row(**overrides: Any) -> dict[str, str]:
    """A valid roster row (a mother of student S1), with ``overrides``."""
    values = {
        "student_id": "S1",
        "student_first_name": "Ada",
        "student_last_name": "Lovelace",
        "year": "6",
        "class": "6B",
        "groups": "",
        "contact_id": "C1",
        "contact_first_name": "Anne",
        "contact_last_name": "Lovelace",
        "relationship": "mother",
        "priority": "1",
        "parental_responsibility": "Y",
        "no_contact": "N",
        "mobile": "07700 900001",
        "email": "anne@example.com",
        "preferred_channel": "",
        "language": "en",
        "needs": "",
        "opt_outs": "",
        "push_token": "",
    }
    values.update({k: str(v) for k, v in overrides.items()})
    return values


def many_families(n: int) -> list[dict[str, str]]:
    """``n`` one-child families, each with a mobile and an email."""
    return [
        row(
            student_id=f"S{i}",
            contact_id=f"C{i}",
            mobile=f"07700 900{i:03d}",
            email=f"parent{i}@example.com",
        )
        for i in range(n)
    ]


def roster_text(rows: list[dict[str, str]]) -> str:
    """The rows as roster CSV text, header included."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROSTER_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_roster(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write the rows to ``path`` as a roster CSV."""
    path.write_text(roster_text(rows), encoding="utf-8")
    return path


def import_roster(
    runtime: Runtime, rows: list[dict[str, str]], school: str = "demo"
) -> ImportResult:
    """Import the rows for ``school`` straight through the store."""
    with runtime.sessions() as session:
        school_row = ensure_school(session, runtime.configuration.school(school))
        session.commit()
        stream = io.StringIO(roster_text(rows))
        return import_rows(
            session, school_row.id, parse_roster(stream, runtime.configuration.policy.categories)
        )


def create(
    runtime: Runtime,
    category: str = "emergency_closure",
    audience: list[str] | None = None,
    variables: dict[str, str] | None = None,
    school: str = "demo",
    now: datetime | None = None,
) -> int:
    """Store an announcement (not yet planned) and return its id."""
    request = AnnouncementRequest(
        school=school,
        category=category,
        audience=audience or ["school"],
        variables=CLOSURE_VARS if variables is None else variables,
        requested_by="test",
    )
    with runtime.sessions() as session:
        announcement, _ = create_announcement(session, runtime, request, now or datetime.now(UTC))
        session.commit()
        return announcement.id


def plan(runtime: Runtime, announcement_id: int, now: datetime | None = None) -> list[QueuedWork]:
    """Plan the announcement, collecting what would be queued instead of queueing it."""
    queued: list[QueuedWork] = []
    moment = now or datetime.now(UTC)
    plan_announcement(runtime, announcement_id, lambda: moment, queued.extend)
    return queued


def delivery_ids(work: list[QueuedWork]) -> list[int]:
    """Every delivery id the queued messages carry, in order."""
    return [object_id for item in work for object_id in item.object_ids]
