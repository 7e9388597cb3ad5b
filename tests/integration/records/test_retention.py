"""Retention (issue 15, "Retention"; decision 0078): after DISPATCHER_RETENTION_MONTHS the
texts families read, their numbers and addresses are erased and only counts remain. The
report of an old announcement gives the same numbers afterwards; recent records are kept;
a dry run erases nothing; a second run erases nothing more; the clock runs it daily."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.channels.reports import InboundText
from dispatcher.cli.main import app
from dispatcher.config.reminders import ReminderSettings
from dispatcher.records.retention import retention_cutoff
from dispatcher.reporting.reports import announcement_report
from dispatcher.store.models import (
    AuditEntry,
    CallLog,
    Delivery,
    DeliveryEvent,
    InboundMessage,
    MessageText,
    OutboxMessage,
)
from dispatcher.tracking.calls import log_call
from dispatcher.tracking.inbound import record_inbound
from dispatcher.triggers.reminders.clock import run_tick
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import deliveries, report_status, send

runner = CliRunner()
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
OLD = datetime(2025, 9, 1, 10, 0, tzinfo=UTC)  # 14 months before NOW: past 13
RECENT = NOW - timedelta(days=30)
RUN = ["retention", "run", "--now", NOW.isoformat(), "--json"]


def _closure_at(runtime: Any, moment: datetime, phone: str) -> int:
    announcement_id = create(runtime, now=moment)
    send(runtime, plan(runtime, announcement_id, now=moment), moment=moment)
    sms = next(d for d in deliveries(runtime, announcement_id) if d.channel == "sms")
    report_status(runtime, sms, "failed", "30003")
    with runtime.sessions() as session:
        message_id = f"SM{moment:%Y%m%d}" + "a" * 24
        record_inbound(
            session, InboundText(phone, None, "Thanks, she stays home", message_id), moment
        )
        session.add(
            AuditEntry(
                at=moment,
                actor="test",
                action="contact.changed",
                detail={"contact_id": "C1", "phone": phone, "fields": ["mobile"]},
            )
        )
        session.commit()
        log_call(
            session,
            announcement_id,
            contact="C1",
            student=None,
            outcome="reached",
            note="Gran collects her",
            called_by="Jo Bloggs",
            now=moment,
        )
    return announcement_id


def _two_closures(runtime: Any) -> tuple[int, int]:
    import_roster(runtime, [row()])
    old = _closure_at(runtime, OLD, "+447700900001")
    recent = _closure_at(runtime, RECENT, "+447700900001")
    return old, recent


def _personal(runtime: Any, announcement_id: int) -> dict[str, Any]:
    """The personal data still held of one announcement."""
    with runtime.sessions() as session:
        ids = select(Delivery.id).where(Delivery.announcement_id == announcement_id)
        return {
            "texts": [
                (t.subject, t.body)
                for t in session.scalars(
                    select(MessageText).where(MessageText.announcement_id == announcement_id)
                )
            ],
            "outbox": [
                (o.to_address, o.body)
                for o in session.scalars(
                    select(OutboxMessage).where(OutboxMessage.announcement_id == announcement_id)
                )
            ],
            "inbound": [
                (m.from_phone, m.body)
                for m in session.scalars(
                    select(InboundMessage).where(InboundMessage.announcement_id == announcement_id)
                )
            ],
            "event_details": [
                d
                for d in session.scalars(
                    select(DeliveryEvent.detail).where(DeliveryEvent.delivery_id.in_(ids))
                )
                if d
            ],
            "error_reasons": [
                r
                for r in session.scalars(
                    select(Delivery.error_reason).where(Delivery.announcement_id == announcement_id)
                )
                if r
            ],
            "call_notes": [
                n
                for n in session.scalars(
                    select(CallLog.note).where(CallLog.announcement_id == announcement_id)
                )
                if n
            ],
        }


def _numbers(runtime: Any, announcement_id: int) -> dict[str, Any]:
    """The report without the words of replies (which retention erases)."""
    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)
    report["replies"] = len(report["replies"])
    return report


def _audit_phones(runtime: Any) -> list[tuple[datetime, bool]]:
    with runtime.sessions() as session:
        return [
            (e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC), "phone" in e.detail)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "contact.changed")
                .order_by(AuditEntry.at)
            )
        ]


def test_old_texts_numbers_and_addresses_are_erased_and_the_counts_kept(runtime: Any) -> None:
    old, recent = _two_closures(runtime)
    before_old, before_recent = _personal(runtime, old), _personal(runtime, recent)
    numbers = _numbers(runtime, old)
    assert all(before_old[kind] for kind in before_old), before_old

    result = runner.invoke(app, RUN)

    assert result.exit_code == 0, result.output
    erased = json.loads(result.stdout)
    assert erased["cutoff"] == retention_cutoff(NOW, 13).isoformat() == "2025-10-24T10:00:00+00:00"
    assert erased["erased"]["message_texts"] == len(before_old["texts"]) == 2
    assert erased["erased"]["outbox_messages"] == len(before_old["outbox"])
    assert erased["erased"]["inbound_messages"] == 1
    assert erased["erased"]["audit_details"] == 1
    after = _personal(runtime, old)
    assert after["texts"] == [(None, None)] * 2
    assert after["outbox"] == [("", "")] * len(before_old["outbox"])
    assert after["inbound"] == [("", "")]
    assert after["event_details"] == [] and after["error_reasons"] == []
    assert erased["erased"]["call_notes"] == 1 and after["call_notes"] == []
    assert _audit_phones(runtime) == [(OLD, False), (RECENT, True)]
    # the counts remain: the report of the old announcement gives the same numbers
    assert _numbers(runtime, old) == numbers
    # recent records are kept as they were
    assert _personal(runtime, recent) == before_recent
    # the personal data is never printed
    assert "+44" not in result.output and "Thanks" not in result.output
    with runtime.sessions() as session:
        runs = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run")))
    assert len(runs) == 1 and runs[0].detail["erased"]["message_texts"] == 2

    again = runner.invoke(app, RUN)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["total"] == 0


def test_a_dry_run_counts_and_erases_nothing(runtime: Any) -> None:
    old, _ = _two_closures(runtime)
    before = _personal(runtime, old)

    dry = runner.invoke(app, [*RUN, "--dry-run"])
    shown = runner.invoke(app, ["retention", "run", "--now", NOW.isoformat(), "--dry-run"])

    assert dry.exit_code == 0, dry.output
    counted = json.loads(dry.stdout)
    assert counted["dry_run"] is True and counted["erased"]["message_texts"] == 2
    assert "would erase" in shown.output and "nothing was erased" in shown.output
    assert _personal(runtime, old) == before
    with runtime.sessions() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run")).first()
            is None
        )


def test_another_schools_records_are_left_alone(runtime: Any) -> None:
    old, _ = _two_closures(runtime)
    before = _personal(runtime, old)

    other = runner.invoke(app, [*RUN, "--school", "brockmoor"])
    unknown = runner.invoke(app, [*RUN, "--school", "nowhere"])

    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["erased"]["message_texts"] == 0
    assert _personal(runtime, old) == before
    assert unknown.exit_code == 2 and "--school" in unknown.stderr


def test_the_clock_runs_it_once_a_day(runtime: Any, clean_redis: Any) -> None:
    old, _ = _two_closures(runtime)
    settings = ReminderSettings(rules=())

    first = run_tick(runtime, clean_redis, {}, settings, NOW)
    later_that_day = run_tick(runtime, clean_redis, {}, settings, NOW + timedelta(hours=6))
    next_day = run_tick(runtime, clean_redis, {}, settings, NOW + timedelta(days=1))

    assert first.retention is not None and first.retention["erased"]["message_texts"] == 2
    assert later_that_day.retention is None
    assert next_day.retention is not None and next_day.retention["total"] == 0
    assert _personal(runtime, old)["texts"] == [(None, None)] * 2
