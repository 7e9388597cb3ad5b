"""``dispatcher staff create|list`` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.models import AuditEntry, StaffAccount

PASSWORD = "correct horse battery staple"


def run(*args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_create_keeps_only_a_hash_prints_no_secret_and_list_shows_the_account(
    runtime: Any,
) -> None:
    created = run(
        "staff", "create", "--email", "Head@Demo.example.org", "--role", "senior",
        "--school", "demo", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert PASSWORD not in created.output
    assert "head@demo.example.org (senior, school demo)" in created.stdout
    with runtime.sessions() as session:
        stored = session.scalars(select(StaffAccount)).one()
        audit = session.scalars(select(AuditEntry)).one()
    assert stored.email == "head@demo.example.org"
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert stored.totp_secret is None
    assert audit.action == "staff_account_created" and "head@" not in json.dumps(audit.detail)

    listed = run("staff", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (account,) = json.loads(listed.stdout)["accounts"]
    assert (account["email"], account["role"], account["school"]) == (
        "head@demo.example.org",
        "senior",
        "demo",
    )
    assert account["second_factor_enrolled"] is False
    assert "password_hash" not in account and "totp_secret" not in account


def test_bad_input_names_the_field_and_stores_nothing(runtime: Any) -> None:
    cases = [
        (["--email", "a@demo.example.org", "--role", "office"], "short", "password:"),
        (["--email", "not-an-email", "--role", "office"], PASSWORD, "--email:"),
        (["--email", "a@demo.example.org", "--role", "head"], PASSWORD, "--role:"),
        (["--email", "a@demo.example.org", "--role", "office", "--school", "nope"], PASSWORD,
         "--school:"),
    ]  # fmt: skip
    for options, password, field in cases:
        result = run("staff", "create", *options, "--password-stdin", stdin=password + "\n")
        assert result.exit_code == 2, result.output
        assert field in result.stderr
        assert password not in result.output
    with runtime.sessions() as session:
        assert session.scalars(select(StaffAccount)).all() == []


def test_the_same_email_twice_is_refused(runtime: Any) -> None:
    options = ["staff", "create", "--email", "a@demo.example.org", "--role", "office"]
    assert run(*options, "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    again = run(*options[:3], "A@demo.example.org", *options[4:], "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert again.exit_code == 2 and "already exists" in again.stderr
