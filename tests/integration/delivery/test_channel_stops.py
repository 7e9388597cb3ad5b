"""A provider that refuses our account stops its channel for every worker: one request, one
alert, every other message on it waits (not failed, not counted as an attempt); once the
credentials are fixed, ``resume`` sends every waiting message once. Real Twilio and SendGrid
SDKs against the emulator, Redis, both databases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.delivery.deliver import deliver, deliver_batch
from dispatcher.delivery.outcomes import Outcome
from dispatcher.queue.work import QueuedWork
from dispatcher.reporting.metrics import render_metrics
from dispatcher.store.models import Delivery, DeliveryEvent
from dispatcher.worker.run import outstanding_work, start_workers
from emulator import ProviderEmulator
from tests.support.factories import create, import_roster, many_families, plan
from tests.support.waiting import wait_until

FAMILIES = 12
runner = CliRunner()


@pytest.fixture
def emulator(emulator: ProviderEmulator, monkeypatch: pytest.MonkeyPatch) -> ProviderEmulator:
    """The emulator, with Twilio configured with a revoked auth token (SendGrid right)."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "revoked-token-0000000000000000000")
    return emulator


def _sms_rows(runtime: Any) -> list[Any]:
    with runtime.sessions() as session:
        return list(
            session.execute(
                select(Delivery.id, Delivery.state, Delivery.attempts).where(
                    Delivery.channel == "sms"
                )
            ).all()
        )


def test_a_refused_account_stops_the_channel_until_resumed_then_each_text_goes_once(
    emulator: ProviderEmulator,
    clean_redis: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dispatcher.runtime import current_runtime, dispose_runtimes

    runtime = current_runtime()
    try:
        import_roster(runtime, many_families(FAMILIES))
        announcement_id = create(runtime)
        work = plan(runtime, announcement_id)
        queued: list[QueuedWork] = []
        with caplog.at_level(logging.INFO, logger="dispatcher.deliver"):
            for message in work:
                deliver_batch(runtime, message.object_ids, lambda: datetime.now(UTC), queued.extend)

        # One request reached Twilio; the alert was raised once, not once per family.
        assert len(emulator.recorded("twilio")) == 1
        alerts = [r for r in caplog.records if "ALERT" in r.getMessage()]
        assert len(alerts) == 1 and "twilio" in alerts[0].getMessage()
        # Every text waits, its claim not counted as an attempt; the email back-ups went.
        texts = _sms_rows(runtime)
        assert len(texts) == FAMILIES
        assert {(t.state, t.attempts) for t in texts} == {("pending", 0)}
        assert len(emulator.accepted_delivery_ids("sendgrid")) == FAMILIES
        with runtime.sessions() as session:
            details = session.scalars(
                select(DeliveryEvent.detail).where(DeliveryEvent.to_state == "pending")
            ).all()
        assert len(details) == FAMILIES
        assert all(d and d.startswith("provider configuration:") for d in details)
        # ...each queued again for when the stop runs out, as a new message.
        waits = {w.object_id: w for w in queued}
        assert sorted(waits) == sorted(t.id for t in texts)
        assert {w.actor_name for w in waits.values()} == {"deliver_urgent"}
        assert all(280_000 <= (w.delay_ms or 0) <= 300_000 for w in waits.values())

        # One delivery on its own (a retry or the sweep) waits too, without a request.
        single = deliver(runtime, texts[0].id, lambda: datetime.now(UTC), queued.extend)
        assert single.outcome is Outcome.WAITING
        assert len(emulator.recorded("twilio")) == 1

        # The office sees it in the announcement's report, the IT lead in the status command
        # and the metrics.
        report = runner.invoke(app, ["report", str(announcement_id)])
        assert report.exit_code == 0, report.output
        assert f"sms: {FAMILIES} waiting because the provider refused" in report.output
        assert "Authenticate" in report.output or "20003" in report.output
        status = runner.invoke(app, ["channels", "status", "--json"])
        assert status.exit_code == 0, status.output
        assert '"provider": "twilio"' in status.output
        assert '"stopped": true' in status.output
        assert f'"waiting": {FAMILIES}' in status.output
        metrics = render_metrics(runtime, datetime.now(UTC)).decode()
        assert 'dispatcher_channel_stopped{provider="twilio"} 1.0' in metrics
        assert 'dispatcher_channel_stopped{provider="sendgrid"} 0.0' in metrics
        # `worker --until-idle` does not wait for a stopped provider (as for a send window).
        assert outstanding_work(runtime, datetime.now(UTC)) == 0

        # The token is fixed and the workers restarted; resume sends each text once, now.
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", emulator.TWILIO_AUTH_TOKEN)
        dispose_runtimes()
        runtime = current_runtime()
        resumed = runner.invoke(app, ["channels", "resume", "twilio", "--json"])
        assert resumed.exit_code == 0, resumed.output
        assert '"was_stopped": true' in resumed.output
        assert f'"requeued": {FAMILIES}' in resumed.output
        assert outstanding_work(runtime, datetime.now(UTC)) == FAMILIES
        workers = start_workers(clean_redis, threads=4)
        try:
            wait_until(
                lambda: {t.state for t in _sms_rows(runtime)} == {"sent"},
                60,
                0.2,
                what=f"the {FAMILIES} resumed texts sent",
                explain=lambda: _sms_rows(runtime),
            )
        finally:
            for worker in workers:
                worker.stop()
        sent_to = [r.form["To"] for r in emulator.messages("twilio") if r.form]
        assert len(sent_to) == len(set(sent_to)) == FAMILIES
        with runtime.sessions() as session:
            failed = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.state == "failed")
            )
        assert failed == 0
    finally:
        dispose_runtimes()


def test_resume_names_the_providers_it_knows(emulator: ProviderEmulator, clean_redis: Any) -> None:
    from dispatcher.runtime import dispose_runtimes

    try:
        result = runner.invoke(app, ["channels", "resume", "mailchimp"])
        assert result.exit_code == 2
        assert "PROVIDER" in result.output and "sendgrid, twilio" in result.output
    finally:
        dispose_runtimes()


def test_a_refused_sendgrid_key_stops_email_after_one_shared_request(
    emulator: ProviderEmulator, clean_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher.runtime import current_runtime, dispose_runtimes

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", emulator.TWILIO_AUTH_TOKEN)
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.revoked-key-000000000000000000000000")
    runtime = current_runtime()
    try:
        import_roster(runtime, many_families(FAMILIES))
        work = plan(runtime, create(runtime))
        for message in work:
            deliver_batch(runtime, message.object_ids, lambda: datetime.now(UTC), lambda _: None)
        assert len(emulator.recorded("sendgrid")) == 1  # one shared request, refused
        assert len(emulator.messages("twilio")) == FAMILIES  # the texts went
        with runtime.sessions() as session:
            emails = session.execute(
                select(Delivery.state, Delivery.attempts).where(Delivery.channel == "email")
            ).all()
        assert len(emails) == FAMILIES
        assert {(e.state, e.attempts) for e in emails} == {("pending", 0)}
        stop = runtime.channel_stops.stopped("sendgrid")
        assert stop is not None and "API key was refused" in stop.reason
    finally:
        dispose_runtimes()
