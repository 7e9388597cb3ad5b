"""The live progress read from the delivery tallies (decision 0097) equals the full GROUP BY
over the announcement's deliveries at every step a send goes through: planned, held,
claimed, released by the sweep, sent, failed and fallen back, delivered, cancelled; after
folds; and while other sessions write at the same time. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatcher.delivery.fallback import start_follow_ups
from dispatcher.domain import AnnouncementState
from dispatcher.reporting import progress
from dispatcher.reporting.progress import announcement_progress
from dispatcher.reporting.reports import STATE_GROUPS, SUMMARY_COLUMNS
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import (
    Claim,
    ClaimRelease,
    SentRecord,
    as_utc,
    claim_deliveries,
    hold_deliveries,
    record_sent,
    release_claims,
)
from dispatcher.store.models import Announcement, Delivery, DeliveryTally
from dispatcher.store.tallies import fold_tallies
from dispatcher.triggers.announcements import cancel
from tests.support.factories import create, delivery_ids, import_roster, many_families, plan, row
from tests.support.tracking import TUESDAY_10AM, deliveries, one, report_status, send

NOW = TUESDAY_10AM


def scanned(session: Session, announcement_id: int) -> dict[str, Any]:
    """The progress as it was computed before the tallies: GROUP BY over the deliveries."""
    announcement = session.get(Announcement, announcement_id)
    assert announcement is not None
    channels: dict[str, dict[str, int]] = {}
    for channel, state, n in session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.channel, Delivery.state)
    ):
        per = channels.setdefault(channel, dict.fromkeys(SUMMARY_COLUMNS, 0))
        per[STATE_GROUPS.get(state, "pending")] += n
    first, last = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
            Delivery.announcement_id == announcement_id
        )
    ).one()
    overall = {c: sum(per[c] for per in channels.values()) for c in SUMMARY_COLUMNS}
    total = sum(overall.values())
    through = total - overall["pending"]
    planning = announcement.state in (AnnouncementState.RECEIVED, AnnouncementState.PLANNING)
    return {
        "announcement_id": announcement.id,
        "state": announcement.state,
        "channels": {c: {**per, "total": sum(per.values())} for c, per in sorted(channels.items())},
        "messages": {**overall, "total": total, "through": through},
        "percent_through": None if planning or not total else round(100 * through / total),
        "first_sent_at": as_utc(first).isoformat() if first else None,
        "last_sent_at": as_utc(last).isoformat() if last else None,
    }


def assert_same(runtime: Runtime, announcement_id: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        expected = scanned(session, announcement_id)
        got = announcement_progress(session, announcement_id)
    assert got == expected
    return got


def tally_rows(runtime: Runtime, announcement_id: int) -> int:
    with runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(DeliveryTally.announcement_id == announcement_id)
            )
            or 0
        )


def test_progress_equals_the_full_count_through_a_whole_send(runtime: Runtime) -> None:
    import_roster(
        runtime,
        [
            *many_families(6),
            row(student_id="SP", contact_id="CP", mobile="07700 900999", push_token="app-1"),
        ],
    )
    announcement_id = create(runtime, now=NOW)
    assert assert_same(runtime, announcement_id)["messages"]["total"] == 0

    work = plan(runtime, announcement_id, now=NOW)
    planned = assert_same(runtime, announcement_id)
    assert planned["messages"]["pending"] == planned["messages"]["total"] > 0
    ids = delivery_ids(work)

    with runtime.sessions() as session:  # outside the send window, then claimed
        hold_deliveries(session, ids[:2], NOW + timedelta(hours=1), NOW)
        claim_deliveries(session, ids[2:5], [], NOW, Claim("worker-a", "a" * 32))
        session.commit()
    assert assert_same(runtime, announcement_id)["messages"]["pending"] == len(ids)

    with runtime.sessions() as session:  # the sweep gives a dead worker's claims back
        released = release_claims(
            session,
            [ClaimRelease(i, "a" * 32, maybe_sent=i == ids[2]) for i in ids[2:5]],
            NOW,
            "worker_dead",
            "its worker stopped mid-send",
        )
        session.commit()
    assert released == ids[2:5]
    assert_same(runtime, announcement_id)

    send(runtime, work)  # the held two wait; every other one goes
    sent = assert_same(runtime, announcement_id)
    assert sent["messages"]["sent"] > 0 and sent["first_sent_at"] is not None

    sms = [d for d in deliveries(runtime, announcement_id) if d.state == "sent"]
    texts = [d for d in sms if d.channel == "sms"]
    report_status(runtime, texts[0], "delivered")
    follow_ups = report_status(runtime, texts[1], "undelivered", "30005")  # falls back
    after = assert_same(runtime, announcement_id)
    assert after["messages"]["delivered"] == 1 and after["messages"]["failed"] == 1
    send(runtime, follow_ups)
    assert_same(runtime, announcement_id)

    with runtime.sessions() as session:  # a provider callback says sent before the worker
        claim_deliveries(session, [], ids[:2], NOW + timedelta(hours=2), Claim("w", "b" * 32))
        session.commit()
    with runtime.sessions() as session:
        record_sent(
            session,
            [
                SentRecord(i, NOW + timedelta(hours=2, seconds=n), "twilio", f"SM{i}", 1)
                for n, i in enumerate(ids[:2])
            ],
        )
        session.commit()
    done = assert_same(runtime, announcement_id)
    assert done["messages"]["pending"] == 0

    rows_before = tally_rows(runtime, announcement_id)
    with runtime.sessions.begin() as session:
        folded = fold_tallies(session, announcement_id)
    assert folded == rows_before > tally_rows(runtime, announcement_id)
    assert assert_same(runtime, announcement_id) == done


def test_progress_equals_the_full_count_when_a_send_is_cancelled(runtime: Runtime) -> None:
    import_roster(runtime, many_families(5))
    announcement_id = create(runtime, now=NOW)
    work = plan(runtime, announcement_id, now=NOW)
    send(runtime, work[:1])
    with runtime.sessions() as session:
        announcement = session.get(Announcement, announcement_id)
        assert announcement is not None
        result = cancel(session, announcement, cancelled_by="staff:1", now=NOW)
    assert result is not None
    cancelled = assert_same(runtime, announcement_id)
    assert cancelled["messages"]["cancelled"] > 0
    assert cancelled["state"] == "cancelled"


def test_a_fallback_started_by_hand_is_counted(runtime: Runtime) -> None:
    import_roster(runtime, [row(push_token="app-1")])
    announcement_id = create(runtime, now=NOW)
    send(runtime, plan(runtime, announcement_id, now=NOW))
    text = one(deliveries(runtime, announcement_id), channel="sms")
    with runtime.sessions() as session:
        session.execute(update(Delivery).where(Delivery.id == text.id).values(state="failed"))
        failed = session.get(Delivery, text.id)
        assert failed is not None
        assert start_follow_ups(session, failed, NOW, runtime=runtime)
        session.commit()
    assert "push" in assert_same(runtime, announcement_id)["channels"]


def test_reading_folds_the_tallies_once_they_grow(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_roster(runtime, many_families(8))
    announcement_id = create(runtime, now=NOW)
    send(runtime, plan(runtime, announcement_id, now=NOW))
    grown = tally_rows(runtime, announcement_id)
    monkeypatch.setattr(progress, "FOLD_AT", 4)
    first = assert_same(runtime, announcement_id)
    folded = tally_rows(runtime, announcement_id)
    assert folded < grown and folded <= 4  # one row per channel and state
    assert assert_same(runtime, announcement_id) == first


# SQLite has one writer at a time: no two write transactions to interleave.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_fold_never_loses_a_change_another_session_has_not_committed_yet(
    runtime: Runtime,
) -> None:
    import_roster(runtime, many_families(6))
    announcement_id = create(runtime, now=NOW)
    ids = delivery_ids(plan(runtime, announcement_id, now=NOW))
    with runtime.sessions() as slow, runtime.sessions() as quick:
        claim_deliveries(slow, ids[:3], [], NOW, Claim("slow", "s" * 32))  # not committed
        claim_deliveries(quick, ids[3:6], [], NOW, Claim("quick", "q" * 32))
        quick.commit()
        assert_same(runtime, announcement_id)
        with runtime.sessions.begin() as session:
            fold_tallies(session, announcement_id)
        slow.commit()
    claimed = assert_same(runtime, announcement_id)
    assert claimed["messages"]["pending"] == len(ids)
    with runtime.sessions() as session:
        sending = session.scalar(
            select(func.count()).where(
                Delivery.announcement_id == announcement_id, Delivery.state == "sending"
            )
        )
    assert sending == 6


def test_progress_stays_right_while_workers_send_and_viewers_fold(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "FOLD_AT", 0)  # every read folds
    import_roster(runtime, many_families(40))
    announcement_id = create(runtime, now=NOW)
    ids = delivery_ids(plan(runtime, announcement_id, now=NOW))
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(share: list[int], name: str) -> None:
        try:
            for start in range(0, len(share), 5):
                chunk = share[start : start + 5]
                with runtime.sessions() as session:
                    taken = claim_deliveries(session, chunk, [], NOW, Claim(name, name * 32))
                    session.commit()
                    at = datetime(2026, 12, 8, 6, 45, tzinfo=UTC) + timedelta(seconds=start)
                    record_sent(session, [SentRecord(i, at, "twilio", f"SM{i}", 1) for i in taken])
                    session.commit()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    def viewer() -> None:
        try:
            while not stop.is_set():
                with runtime.sessions() as session:
                    announcement_progress(session, announcement_id)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(ids[0::2], "a")),
        threading.Thread(target=worker, args=(ids[1::2], "b")),
    ]
    viewers = [threading.Thread(target=viewer) for _ in range(2)]
    for thread in threads + viewers:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in viewers:
        thread.join()
    assert errors == []
    final = assert_same(runtime, announcement_id)
    assert final["messages"]["sent"] == len(ids)
