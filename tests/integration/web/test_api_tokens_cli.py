"""A token made by ``dispatcher tokens create`` works against the API until it is revoked."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from dispatcher.cli.main import app as cli


def test_created_token_works_until_revoked(client: Any, runtime: Any) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "tokens",
            "create",
            "--name",
            "office-1",
            "--role",
            "office",
            "--school",
            "demo",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['token']}"}
    assert client.get("/api/announcements", headers=headers).status_code == 200
    assert runner.invoke(cli, ["tokens", "revoke", "office-1"]).exit_code == 0
    response = client.get("/api/announcements", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"][0]["field"] == "header.Authorization"
    listed = json.loads(runner.invoke(cli, ["tokens", "list", "--json"]).stdout)["tokens"]
    assert listed[0]["last_used_at"] is not None
