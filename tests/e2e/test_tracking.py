"""Delivery tracking end to end: the real Twilio and SendGrid SDKs send through the provider
emulator, the emulator calls back (signed as the providers sign) to the web service running
under uvicorn, and Dramatiq workers send what the callbacks start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.names import DELIVERY_QUEUES
from dispatcher.reporting.reports import announcement_report
from dispatcher.store.models import Delivery
from dispatcher.worker.run import start_workers
from emulator import ProviderEmulator
from tests.support.adapters import json_body
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import TUESDAY_10AM
from tests.support.waiting import wait_until

PAYMENT_VARS = {
    "item": "dinners",
    "amount": "£20",
    "due_date": "Friday",
    "payment_link": "https://pay.example/d",
}


@pytest.fixture
def service(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, clean_redis: Any
) -> Iterator[tuple[ProviderEmulator, str]]:
    """The emulator, the web service under uvicorn on a free local port, and the
    environment pointing the SDKs at the one and the callbacks at the other."""
    from dispatcher.runtime import dispose_runtimes
    from dispatcher.web.server import build_server

    with ProviderEmulator() as emulator:
        for name, value in {
            "TWILIO_ACCOUNT_SID": emulator.TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": emulator.TWILIO_AUTH_TOKEN,
            "TWILIO_BASE_URL": emulator.url,
            "SENDGRID_API_KEY": emulator.SENDGRID_API_KEY,
            "SENDGRID_BASE_URL": emulator.url,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": emulator.sendgrid_webhook_public_key,
        }.items():
            monkeypatch.setenv(name, value)
        for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
            monkeypatch.delenv(variable, raising=False)
        server = build_server("127.0.0.1", 0)
        thread = threading.Thread(target=server.run, name="web", daemon=True)
        thread.start()
        wait_until(lambda: server.started, 60, what="the web service to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("DISPATCHER_PUBLIC_BASE_URL", base_url)
        try:
            yield emulator, base_url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            dispose_runtimes()


def _states(runtime: Any) -> dict[tuple[int, str], tuple[str, str]]:
    with runtime.sessions() as session:
        return {
            (d.contact_id, d.channel): (d.kind, d.state)
            for d in session.scalars(select(Delivery).order_by(Delivery.id))
        }


def test_provider_callbacks_drive_fallback_exactly_once(
    service: tuple[ProviderEmulator, str], clean_redis: Any
) -> None:
    from dispatcher.runtime import current_runtime

    emulator, base_url = service
    runtime = current_runtime()
    import_roster(
        runtime,
        [
            row(student_id="SE", contact_id="E", mobile="07700 900021", email="e@example.com"),
            row(student_id="SP", contact_id="P", mobile="07700 900022", email="p@example.com"),
        ],
    )
    with time_machine.travel(TUESDAY_10AM, tick=True):  # inside the send window
        closure = create(runtime, audience=["student:SE"])
        payment = create(runtime, "payment_request", ["student:SP"], PAYMENT_VARS)
        enqueue(clean_redis, plan(runtime, closure) + plan(runtime, payment))
        workers = start_workers(clean_redis, threads=2)
        try:

            def show() -> Any:
                return _states(runtime), [(r.provider, r.status) for r in emulator.requests]

            wait_until(
                lambda: len(emulator.messages("twilio")) == 2, 60, what="both texts", explain=show
            )
            wait_until(
                lambda: len(emulator.messages("sendgrid")) == 1, 60, what="the email back-up"
            )
            wait_until(lambda: len(_text_ids(runtime)) == 2, 60, what="the texts' receipts")
            sids = _text_ids(runtime)
            assert len(sids) == 2

            # both texts are reported undelivered by the handset's network, twice each
            for _ in range(2):
                for sid in sids:
                    assert emulator.twilio_status_callback(sid, "undelivered", "30003") == 200
            wait_until(
                lambda: len(emulator.messages("sendgrid")) == 2,
                60,
                what="the fallback email",
                explain=show,
            )
            message_ids = emulator.sendgrid_message_ids()
            events = [e for m in message_ids for e in emulator.sendgrid_events_for(m, "delivered")]
            for _ in range(2):
                assert (
                    emulator.sendgrid_event_batch(f"{base_url}/webhooks/sendgrid/events", events)
                    == 200
                )
            wait_until(
                lambda: sum(state == "delivered" for _, state in _states(runtime).values()) == 2,
                60,
                what="the delivery reports",
            )
            # whatever a replayed callback might wrongly have queued is done by now
            for queue in DELIVERY_QUEUES.values():
                clean_redis.join(queue, timeout=30_000)
        finally:
            for worker in workers:
                worker.stop()

    emails = [
        json_body(r)["personalizations"][0]["to"][0]["email"] for r in emulator.messages("sendgrid")
    ]
    # the closure's email back-up covers its failed text: still one email to that family;
    # the payment request had no back-up: exactly one fallback email
    assert sorted(emails) == ["e@example.com", "p@example.com"]
    assert len(emulator.messages("twilio")) == 2
    ids = {contact: _contact_id(runtime, contact) for contact in ("E", "P")}
    assert _states(runtime) == {
        (ids["E"], "sms"): ("primary", "undelivered"),
        (ids["E"], "email"): ("backup", "delivered"),
        (ids["P"], "sms"): ("primary", "undelivered"),
        (ids["P"], "email"): ("fallback", "delivered"),
    }
    with runtime.sessions() as session:
        assert announcement_report(session, payment)["fallbacks"]["total"] == 1
        assert announcement_report(session, closure)["not_reached"] == []


def _contact_id(runtime: Any, external_id: str) -> int:
    from dispatcher.store.models import Contact

    with runtime.sessions() as session:
        return int(
            session.scalar(select(Contact.id).where(Contact.external_id == external_id)) or 0
        )


def _text_ids(runtime: Any) -> list[str]:
    """The provider ids recorded for texts so far."""
    with runtime.sessions() as session:
        return [
            sid
            for sid in session.scalars(
                select(Delivery.provider_message_id)
                .where(Delivery.channel == "sms")
                .order_by(Delivery.id)
            )
            if sid
        ]


def test_dispatcher_web_serves_until_stopped(env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    run_env = {**os.environ, **env, "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "web"],
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, what="dispatcher web")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            ready = json.loads(response.read())
        assert (ready["status"], ready["database"], ready["redis"]) == ("ready", "ok", "ok")
        assert ready["send_journal"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM)
    assert b"Finished server process" in errors
    bad = subprocess.run(
        [sys.executable, "-m", "dispatcher", "web"],
        env={**run_env, "PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "PORT" in bad.stderr


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False
