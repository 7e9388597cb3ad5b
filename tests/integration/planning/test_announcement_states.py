"""Issue 15, problem 8: an announcement's state says where it is (received, planning, sending,
done, cancelled) rather than "planned" after every message has gone; the migration moves the
rows written before it."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import create_engine, select, text

from dispatcher.store.announcements import finish_sending, settle_announcement_states
from dispatcher.store.engine import alembic_config
from dispatcher.store.models import Announcement
from dispatcher.worker.sweep import settle_announcements
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import TUESDAY_10AM, deliveries, one, report_status, send


def _state(runtime: Any, announcement_id: int) -> str:
    with runtime.sessions() as session:
        return str(
            session.scalar(select(Announcement.state).where(Announcement.id == announcement_id))
        )


def test_sending_until_every_message_has_gone_then_done_and_again_for_a_late_fallback(
    runtime: Any,
) -> None:
    import_roster(runtime, [row(push_token="app-token-1")])
    announcement_id = create(runtime, now=TUESDAY_10AM)
    assert _state(runtime, announcement_id) == "received"
    work = plan(runtime, announcement_id, now=TUESDAY_10AM)
    assert _state(runtime, announcement_id) == "sending"

    send(runtime, work)
    assert _state(runtime, announcement_id) == "done"

    # the text is reported undelivered: its fallback (the app) is to send, so it is sending
    sms = one(deliveries(runtime, announcement_id), channel="sms")
    follow_ups = report_status(runtime, sms, "undelivered", "30005")
    assert _state(runtime, announcement_id) == "sending"
    send(runtime, follow_ups)
    assert _state(runtime, announcement_id) == "done"


def test_an_announcement_with_nobody_to_message_is_done_once_planned(runtime: Any) -> None:
    import_roster(runtime, [row(mobile="01632 960001", email="")])  # a landline only
    announcement_id = create(runtime, now=TUESDAY_10AM)
    assert plan(runtime, announcement_id, now=TUESDAY_10AM) == []
    assert _state(runtime, announcement_id) == "done"


def test_the_sweep_settles_what_a_race_left_behind(runtime: Any) -> None:
    import_roster(runtime, [row()])
    announcement_id = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    with runtime.sessions.begin() as session:  # as if the last two sends raced
        session.execute(
            text("UPDATE announcements SET state = 'sending' WHERE id = :a"), {"a": announcement_id}
        )
    assert settle_announcements(runtime) == 1
    assert _state(runtime, announcement_id) == "done"
    with runtime.sessions.begin() as session:
        assert settle_announcement_states(session) == 0
        assert finish_sending(session, []) == 0


def test_the_migration_moves_planned_announcements_to_sending_or_done(
    database_url: str, runtime: Any
) -> None:
    import_roster(runtime, [row(), row(student_id="S2", contact_id="C2", mobile="07700 900002")])
    finished = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, finished, now=TUESDAY_10AM))
    open_one = create(runtime, now=TUESDAY_10AM)
    plan(runtime, open_one, now=TUESDAY_10AM)  # planned, nothing sent
    cancelled = create(runtime, now=TUESDAY_10AM)

    config = alembic_config(database_url)
    command.downgrade(config, "0004")
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE announcements SET state = 'cancelled' WHERE id = :a"), {"a": cancelled}
            )
            before: dict[int, str] = dict(
                conn.execute(text("SELECT id, state FROM announcements")).all()
            )
        assert before == {finished: "planned", open_one: "planned", cancelled: "cancelled"}
        command.upgrade(config, "head")
        with engine.connect() as conn:
            after: dict[int, str] = dict(
                conn.execute(text("SELECT id, state FROM announcements")).all()
            )
    finally:
        engine.dispose()
    assert after == {finished: "done", open_one: "sending", cancelled: "cancelled"}
