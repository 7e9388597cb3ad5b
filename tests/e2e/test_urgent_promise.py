"""Problem 2 of issue 15, end to end through the real command line: a parent whose preferred
channel is email still gets the emergency closure by text, with the email back-up, as the
policies promise (SENDAT: "emergency school closures" by text, "email as a back-up")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.factories import closure_args, row, write_roster


def _dispatcher(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def test_a_parent_who_prefers_email_gets_the_emergency_text_and_the_email(
    env: dict[str, str], tmp_path: Path, clean_redis: Any
) -> None:
    roster = write_roster(
        tmp_path / "roster.csv",
        [
            row(
                contact_id="C-EMAIL",
                mobile="07700 900101",
                email="prefers.email@example.com",
                preferred_channel="email",
            ),
            row(
                student_id="S2",
                contact_id="C-APP",
                mobile="07700 900102",
                email="prefers.app@example.com",
                preferred_channel="push",
                push_token="app-token-102",
            ),
        ],
    )
    _dispatcher(env, "roster", "import", str(roster), "--school", "demo")
    sent = _dispatcher(env, *closure_args("--yes", "--json"))
    announcement_id = json.loads(sent.stdout)["announcement_id"]
    _dispatcher(env, "worker", "--until-idle", "--threads", "2")

    outbox = Path(env["DISPATCHER_DATA_DIR"]) / "outbox" / f"announcement-{announcement_id}.jsonl"
    messages = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    received = sorted((m["to"], m["channel"]) for m in messages)
    assert received == [
        ("+447700900101", "sms"),
        ("+447700900102", "sms"),
        ("prefers.app@example.com", "email"),
        ("prefers.email@example.com", "email"),
    ]
    texts = [m for m in messages if m["channel"] == "sms"]
    assert all("heavy snow" in m["body"] for m in texts)

    report = json.loads(_dispatcher(env, "report", str(announcement_id), "--json").stdout)
    assert report["deliveries_by_kind"] == {"primary": 2, "backup": 2}
    assert report["state"] == "done"
    assert report["headline"][0] == "done: 4 messages handed to providers, 0 families not reached"
    assert report["not_reached"] == []
