"""``dispatcher tokens create|list|revoke`` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.access.tokens import hash_token
from dispatcher.cli.main import app
from dispatcher.store.models import ApiToken


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_create_prints_the_token_once_and_list_never_shows_it(runtime: Any) -> None:
    created = run(
        "tokens",
        "create",
        "--name",
        "office-demo",
        "--role",
        "office",
        "--school",
        "demo",
        "--json",
    )
    assert created.exit_code == 0, created.output
    data = json.loads(created.stdout)
    secret = data["token"]
    assert data["name"] == "office-demo"
    assert (data["role"], data["school"]) == ("office", "demo")
    with runtime.sessions() as session:
        stored = session.scalars(select(ApiToken)).one()
    assert stored.token_hash == hash_token(secret)
    assert secret not in (stored.name, stored.token_hash)

    listed_json = run("tokens", "list", "--json")
    listed_text = run("tokens", "list")
    assert listed_json.exit_code == listed_text.exit_code == 0
    [entry] = json.loads(listed_json.stdout)["tokens"]
    assert entry["name"] == "office-demo" and entry["revoked_at"] is None
    assert "token" not in entry
    for output in (listed_json.stdout, listed_text.stdout):
        assert secret not in output
        assert stored.token_hash not in output
        assert secret[4:12] not in output
    assert "office-demo" in listed_text.stdout


def test_a_token_for_every_school_without_json_prints_the_token_alone_on_a_line(
    runtime: Any,
) -> None:
    created = run("tokens", "create", "--name", "deployment-admin", "--role", "admin")
    assert created.exit_code == 0, created.output
    lines = [line for line in created.stdout.splitlines() if line.startswith("dsp_")]
    assert len(lines) == 1
    assert "every school" in created.stdout


def test_a_trust_token_acts_for_its_member_schools(runtime: Any) -> None:
    created = run("tokens", "create", "--name", "sendat-senior", "--role", "senior", "--trust",
                  "sendat", "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    entry = json.loads(created.stdout)
    assert (entry["school"], entry["trust"]) == (None, "sendat")
    assert "trust sendat" in run("tokens", "list").stdout
    unknown = run("tokens", "create", "--name", "y", "--role", "senior", "--trust", "sendta")
    assert unknown.exit_code == 2 and "--trust" in unknown.output and "sendat" in unknown.output
    both = run("tokens", "create", "--name", "z", "--role", "senior", "--trust", "sendat",
               "--school", "sendat-a")  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output


def test_bad_options_exit_2_naming_the_option(runtime: Any) -> None:
    bad_role = run("tokens", "create", "--name", "x", "--role", "head")
    assert bad_role.exit_code == 2
    assert "--role" in bad_role.output
    bad_school = run("tokens", "create", "--name", "x", "--role", "office", "--school", "nope")
    assert bad_school.exit_code == 2
    assert "--school" in bad_school.output
    assert run("tokens", "create", "--name", "x", "--role", "office").exit_code == 0
    taken = run("tokens", "create", "--name", "x", "--role", "senior")
    assert taken.exit_code == 2
    assert "--name" in taken.output and "already exists" in taken.output
    missing = run("tokens", "revoke", "nobody")
    assert missing.exit_code == 2
    assert "no token named" in missing.output


def test_revoke_marks_the_token_revoked(runtime: Any) -> None:
    run("tokens", "create", "--name", "gone", "--role", "office", "--school", "demo")
    revoked = run("tokens", "revoke", "gone", "--json")
    assert revoked.exit_code == 0, revoked.output
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    [entry] = json.loads(run("tokens", "list", "--json").stdout)["tokens"]
    assert entry["revoked_at"] is not None
