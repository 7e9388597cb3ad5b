"""The notices that tell seniors a request waits for them, sent by the ``notify_staff``
actor through the channel adapters: into the outbox where the school's messages go there,
and through Twilio and SendGrid (the provider emulator) where credentials are set. Each is
sent once; no log line holds an address."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from dispatcher.runtime import Runtime, current_runtime, dispose_runtimes
from dispatcher.signoff.notices import OUTBOX_FILE
from dispatcher.store.sign_offs import notifications_of
from emulator import ProviderEmulator
from tests.integration.signoff.helpers import account, ask

PHONE = "+447700900123"
LINK_BASE = "https://messages.demo-primary.example"


def _notify(notice_ids: list[int]) -> None:
    from dispatcher.worker.actors import notify_staff

    for notice_id in notice_ids:
        notify_staff.fn(notice_id)


def test_the_outbox_receives_the_email_and_the_text_once(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org", phone=PHONE)
    request_id, notice_ids = ask(runtime, head)
    caplog.set_level(logging.INFO)
    _notify(notice_ids)
    _notify(notice_ids)  # a repeated message sends nothing more
    lines = (Path(runtime.settings.outbox_dir) / OUTBOX_FILE).read_text().splitlines()
    records = sorted((json.loads(line) for line in lines), key=lambda r: str(r["channel"]))
    assert [(r["channel"], r["to"]) for r in records] == [
        ("email", deputy.email),
        ("sms", PHONE),
    ]
    text = records[1]["body"]
    assert text.startswith("Demo Primary School: a senior asks you to approve an emergency")
    assert "to the whole school" in text and f"request {request_id}" in text
    assert records[0]["subject"].startswith("Approval needed: a senior asks you to approve")
    with runtime.sessions() as session:
        states = {n.channel: (n.state, n.provider) for n in notifications_of(session, request_id)}
    assert states == {"email": ("sent", "outbox"), "sms": ("sent", "outbox")}
    assert PHONE not in caplog.text and deputy.email not in caplog.text
    assert "staff notice" in caplog.text


def test_twilio_and_sendgrid_receive_the_text_and_email_with_the_link(
    env: dict[str, str],
    emulator: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
    clean_redis: object,
) -> None:
    monkeypatch.setenv("DISPATCHER_PUBLIC_BASE_URL", LINK_BASE)
    dispose_runtimes()
    runtime = current_runtime()
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org", phone=PHONE)
    request_id, notice_ids = ask(runtime, head)
    _notify(notice_ids)
    link = f"{LINK_BASE}/sign-off/{request_id}"
    texts = emulator.messages("twilio")
    emails = emulator.messages("sendgrid")
    assert len(texts) == 1 and len(emails) == 1
    assert texts[0].form is not None and texts[0].form["To"] == PHONE
    assert texts[0].form["Body"].endswith(f"Open {link}")
    body = emails[0].json
    assert body is not None
    assert body["personalizations"][0]["to"][0]["email"] == deputy.email
    assert link in json.dumps(body)
    with runtime.sessions() as session:
        providers = {n.channel: n.provider for n in notifications_of(session, request_id)}
    assert providers == {"sms": "twilio", "email": "sendgrid"}
    dispose_runtimes()
