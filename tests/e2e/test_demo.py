"""`dispatcher demo`: the whole pipeline on a fresh data directory, as `make demo` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, select

from dispatcher.store.models import Contact, Delivery, PlanOutcome


def test_demo_reaches_every_reachable_contact_and_lists_the_rest(
    env: dict[str, str], database_url: str
) -> None:
    run_env = {**os.environ, **env}
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", "-v", "demo", "--json"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # The office reads the worker's log too: a normal send warns of nothing.
    assert " WARNING " not in result.stderr and " ERROR " not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    announcement_id = report["announcement_id"]
    assert report["state"] == "done"
    assert report["counts"]["sms"]["sent"] > 0 and report["counts"]["email"]["sent"] > 0
    assert all(set(states) == {"sent"} for states in report["counts"].values())

    engine = create_engine(database_url)
    with engine.connect() as conn:
        contacts = conn.execute(select(Contact)).all()
        delivered_to = {d.contact_id for d in conn.execute(select(Delivery.contact_id))}
        outcomes = {o.contact_id: o for o in conn.execute(select(PlanOutcome))}
    engine.dispose()
    assert contacts
    for contact in contacts:
        needs = set(contact.needs.split(";"))
        usable = (
            (contact.phone_sms_capable and "no_sms" not in needs)
            or (contact.email and "no_email" not in needs)
            or contact.push_token
        )
        if contact.id in outcomes:
            outcome = outcomes[contact.id]
            assert outcome.outcome == "excluded" or not usable, outcome.reason
        else:
            assert contact.id in delivered_to
    unreachable = [o for o in outcomes.values() if o.outcome == "unreachable"]
    assert len(report["not_reached"]) == len(unreachable) > 0

    # the outbox file holds every message, one JSON object a line
    outbox = Path(env["DISPATCHER_DATA_DIR"]) / "outbox" / f"announcement-{announcement_id}.jsonl"
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert lines
    assert len(lines) == sum(sum(s.values()) for s in report["counts"].values())
    for line in lines:
        assert {
            "delivery_id",
            "announcement_id",
            "channel",
            "to",
            "subject",
            "body",
            "language",
        } <= set(line)
    assert {line["language"] for line in lines} >= {"en", "pl"}

    # personal data never reaches the logs
    for contact in contacts:
        for value in (contact.phone_e164, contact.email):
            if value:
                assert value not in result.stderr


def test_demo_through_the_real_sdks_against_the_emulator(
    env: dict[str, str], database_url: str
) -> None:
    run_env = {**os.environ, **env}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "-v",
            "demo",
            "--students",
            "60",
            "--providers",
            "emulator",
            "--json",
        ],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    sent = {channel: states.get("sent", 0) for channel, states in report["counts"].items()}
    assert report["emulator"] == {
        "twilio": sent.get("sms", 0),
        "sendgrid": sent.get("email", 0),
        "fcm": sent.get("push", 0),
    }
    assert sent["sms"] > 0 and sent["email"] > 0
    engine = create_engine(database_url)
    with engine.connect() as conn:
        providers = {row.provider for row in conn.execute(select(Delivery.provider))}
    engine.dispose()
    assert providers <= {"twilio", "sendgrid", "fcm"}
    assert "emulator-twilio-token" not in result.stderr
