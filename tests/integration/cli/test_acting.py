"""Who did what (issue 15, problem 7): every send and import through the CLI records a named
person. ``--as NAME`` names them; without it the OS user and host do; an urgent category is
refused without ``--as`` (exit 2, nothing stored), though its dry run needs none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.models import Announcement, AuditEntry
from tests.support.factories import SENDER, closure_args, import_roster, row, write_roster

runner = CliRunner()

NEWSLETTER = [
    "announce",
    "--school",
    "demo",
    "--category",
    "newsletter",
    "--audience",
    "school",
    "--var",
    "title=Spring term news",
    "--var",
    "url=https://demo-primary.example/n",
    "--yes",
    "--json",
]


@pytest.fixture
def office_pc(monkeypatch: pytest.MonkeyPatch) -> str:
    """The OS says the user is jo on the host office-pc."""
    monkeypatch.setattr("getpass.getuser", lambda: "jo")
    monkeypatch.setattr("socket.gethostname", lambda: "office-pc")
    return "jo@office-pc"


def _without_as(args: list[str]) -> list[str]:
    at = args.index("--as")
    return args[:at] + args[at + 2 :]


def test_an_urgent_send_without_as_is_refused_and_nothing_is_stored(runtime: Any) -> None:
    import_roster(runtime, [row()])

    result = runner.invoke(app, _without_as(closure_args("--yes")))

    assert result.exit_code == 2, result.output
    assert "--as" in result.stderr and "urgent" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Announcement)) == 0


def test_an_urgent_dry_run_needs_no_name(runtime: Any) -> None:
    import_roster(runtime, [row()])

    result = runner.invoke(app, _without_as(closure_args("--dry-run")))

    assert result.exit_code == 0, result.output


def test_the_named_sender_lands_on_the_announcement_and_in_the_audit_log(runtime: Any) -> None:
    import_roster(runtime, [row()])

    result = runner.invoke(app, closure_args("--yes", "--json"))

    assert result.exit_code == 0, result.output
    with runtime.sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "announcement.created")
        ).one()
    assert announcement.requested_by == SENDER
    assert entry.actor == SENDER


def test_a_routine_send_without_as_is_recorded_as_the_os_user_and_host(
    runtime: Any, office_pc: str
) -> None:
    import_roster(runtime, [row()])

    result = runner.invoke(app, NEWSLETTER)

    assert result.exit_code == 0, result.output
    with runtime.sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert announcement.requested_by == office_pc
    assert office_pc in actors


def test_a_blank_name_is_refused(runtime: Any) -> None:
    result = runner.invoke(app, [*NEWSLETTER, "--as", "  "])

    assert result.exit_code == 2
    assert "--as" in result.stderr


def test_a_roster_import_records_who_imported_it(
    runtime: Any, tmp_path: Path, office_pc: str
) -> None:
    roster = write_roster(tmp_path / "roster.csv", [row()])

    named = runner.invoke(app, ["roster", "import", str(roster), "--school", "demo", "--as", "Sam"])
    unnamed = runner.invoke(app, ["roster", "import", str(roster), "--school", "demo"])

    assert named.exit_code == 0, named.output
    assert unnamed.exit_code == 0, unnamed.output
    with runtime.sessions() as session:
        actors = list(
            session.scalars(
                select(AuditEntry.actor)
                .where(AuditEntry.action == "roster.imported")
                .order_by(AuditEntry.id)
            )
        )
    assert actors == ["Sam", office_pc]
