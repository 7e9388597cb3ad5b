"""Issue 15, problem 1: a school that names real providers never falls back to the outbox.
Without the providers' credentials its messages are held (pending, one ALERT per provider,
however many batches and stops), nothing is recorded as sent, and the report, the CLI and
``channels status`` say why; the outbox is used only where a school's file chooses it, and
then the report and the CLI say "written to the outbox — not sent to any family"."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from dispatcher.channels.stops import stop_key
from dispatcher.cli.main import app
from dispatcher.delivery.deliver import deliver_batch
from dispatcher.queue.work import QueuedWork
from dispatcher.store.models import Delivery, OutboxMessage
from dispatcher.worker.run import outstanding_work
from tests.support.factories import closure_args, create, import_roster, many_families, plan

FAMILIES = 30  # more than one batch of texts (25)
runner = CliRunner()


def _deliver_all(runtime: Any, work: list[QueuedWork]) -> list[QueuedWork]:
    queued: list[QueuedWork] = []
    for message in work:
        deliver_batch(runtime, message.object_ids, lambda: datetime.now(UTC), queued.extend)
    return queued


def test_a_school_naming_real_providers_without_credentials_holds_its_messages(
    runtime: Any, clean_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import_roster(runtime, many_families(FAMILIES), school="brockmoor")
    announcement_id = create(runtime, school="brockmoor")
    work = plan(runtime, announcement_id)
    with caplog.at_level(logging.INFO, logger="dispatcher.deliver"):
        waits = _deliver_all(runtime, work)
        # The stops run out (five minutes later) and the waiting messages come back: still
        # no credentials, so they wait again, without a second alert.
        clean_redis.client.delete(stop_key("twilio"), stop_key("sendgrid"))
        _deliver_all(runtime, waits)

    with runtime.sessions() as session:
        states = dict(
            session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
        )
        recorded = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert states == {"pending": 2 * FAMILIES}  # every text and its email back-up
    assert recorded == 0
    assert not (runtime.settings.outbox_dir).exists()
    alerts = [r.getMessage() for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 2, alerts  # one for Twilio, one for SendGrid
    assert any("twilio" in a and "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in a for a in alerts)
    assert any("sendgrid" in a and "SENDGRID_API_KEY" in a for a in alerts)
    assert all("held" in a for a in alerts)
    # `worker --until-idle` does not wait for them.
    assert outstanding_work(runtime, datetime.now(UTC)) == 0

    report = runner.invoke(app, ["report", str(announcement_id), "--json"])
    assert report.exit_code == 0, report.output
    assert '"outbox": null' in report.output
    text = runner.invoke(app, ["report", str(announcement_id)])
    assert f"sms: {FAMILIES} waiting" in text.output
    assert "TWILIO_ACCOUNT_SID" in text.output
    assert "outbox" not in text.output
    status = runner.invoke(app, ["channels", "status"])
    assert status.exit_code == 0, status.output
    assert "held" in status.output and "TWILIO_AUTH_TOKEN" in status.output


def test_the_outbox_chosen_on_purpose_is_named_in_the_report_and_the_cli(
    runtime: Any, clean_redis: Any
) -> None:
    import_roster(runtime, many_families(3))
    announcement_id = create(runtime)  # the demo school: missing_credentials = "outbox"
    _deliver_all(runtime, plan(runtime, announcement_id))

    text = runner.invoke(app, ["report", str(announcement_id)])
    assert text.exit_code == 0, text.output
    assert "6 of 6 messages written to the outbox — not sent to any family" in text.output
    dry_run = runner.invoke(
        app,
        closure_args("--dry-run", school="demo"),
    )
    assert dry_run.exit_code == 0, dry_run.output
    assert "sms: written to the outbox — not sent to any family" in dry_run.output
    held = runner.invoke(
        app,
        closure_args("--dry-run", school="brockmoor"),
    )
    assert held.exit_code == 0, held.output
    assert "sms: held: the school names twilio" in " ".join(held.output.split())
