"""``dispatcher announce`` refuses a link variable that is not https, at preview, exit 2."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.models import Announcement

runner = CliRunner()


@pytest.mark.parametrize("dry_run", [True, False])
def test_announce_with_a_javascript_link_exits_2_naming_the_variable(
    runtime: Any, dry_run: bool
) -> None:
    arguments = [
        "announce",
        "--school",
        "demo",
        "--category",
        "trip_letter",
        "--audience",
        "school",
        "--var",
        "trip=Paris",
        "--var",
        "date=12 March",
        "--var",
        "letter_url=javascript:alert(1)",
        "--dry-run" if dry_run else "--yes",
    ]

    result = runner.invoke(app, arguments)

    assert result.exit_code == 2, result.output
    assert "variables.letter_url" in result.stderr and "https://" in result.stderr
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Announcement)) == 0
