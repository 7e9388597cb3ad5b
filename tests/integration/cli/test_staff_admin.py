"""``dispatcher staff disable|enable|unlock|reset-password|clear-second-factor`` and
``create --phone`` against a real database (SQLite and PostgreSQL): what each changes, its
audit entry, and bad input refused with exit 2 naming the option."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, StaffAccount

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another fine passphrase"
EMAIL = "head@demo.example.org"


def run(*args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def created(runtime: Runtime, *extra: str) -> StaffAccount:
    made = run("staff", "create", "--email", EMAIL, "--role", "senior", "--school", "demo",
               *extra, "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    with runtime.sessions() as session:
        return session.scalars(select(StaffAccount)).one()


def row(runtime: Runtime) -> StaffAccount:
    with runtime.sessions() as session:
        return session.scalars(select(StaffAccount)).one()


def test_create_with_a_phone_keeps_e164_and_list_shows_it(runtime: Runtime) -> None:
    account = created(runtime, "--phone", "07700 900123")
    assert account.phone == "+447700900123"
    listed = json.loads(run("staff", "list", "--json").stdout)["accounts"]
    assert listed[0]["phone"] == "+447700900123" and listed[0]["disabled_at"] is None


def test_each_command_changes_the_account_and_records_it(runtime: Runtime) -> None:
    account = created(runtime)
    with runtime.sessions() as session:
        stored = session.get(StaffAccount, account.id)
        assert stored is not None
        stored.totp_secret, stored.failed_attempts = "JBSWY3DPEHPK3PXP", 5
        stored.locked_until = datetime.now(UTC) + timedelta(minutes=15)
        session.commit()

    disabled = run("staff", "disable", "--email", "Head@Demo.example.org")
    assert disabled.exit_code == 0, disabled.output
    assert f"account staff:{account.id} disabled" in disabled.stdout
    assert row(runtime).disabled_at is not None
    assert run("staff", "enable", "--email", EMAIL).exit_code == 0
    assert row(runtime).disabled_at is None
    assert run("staff", "unlock", "--email", EMAIL).exit_code == 0
    assert row(runtime).locked_until is None and row(runtime).failed_attempts == 0
    old_hash = row(runtime).password_hash
    reset = run("staff", "reset-password", "--email", EMAIL, "--password-stdin",
                stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert reset.exit_code == 0, reset.output
    assert NEW_PASSWORD not in reset.output and row(runtime).password_hash != old_hash
    assert run("staff", "clear-second-factor", "--email", EMAIL).exit_code == 0
    assert row(runtime).totp_secret is None
    with runtime.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries[1:]] == [
        "staff_account_disabled", "staff_account_enabled", "staff_account_unlocked",
        "staff_password_reset", "staff_second_factor_cleared",
    ]  # fmt: skip
    assert all("@" in e.actor and not e.actor.startswith("staff:") for e in entries[1:])
    assert all(EMAIL not in json.dumps(e.detail) for e in entries)


def test_bad_input_exits_2_naming_the_option_and_changes_nothing(runtime: Runtime) -> None:
    created(runtime)
    cases = [
        (["staff", "disable", "--email", "nobody@demo.example.org"], "", "--email:"),
        (["staff", "unlock", "--email", "not an email"], "", "--email:"),
        (["staff", "reset-password", "--email", EMAIL, "--password-stdin"], "short\n",
         "password:"),
        (["staff", "create", "--email", "b@demo.example.org", "--role", "office",
          "--phone", "01632 960000", "--password-stdin"], PASSWORD + "\n", "--phone:"),
    ]  # fmt: skip
    before = row(runtime).password_hash
    for args, stdin, option in cases:
        result = run(*args, stdin=stdin)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(option) or option in result.stderr, result.stderr
    missing = run("staff", "disable")
    assert missing.exit_code == 2 and "--email" in missing.output
    assert row(runtime).password_hash == before and row(runtime).disabled_at is None
