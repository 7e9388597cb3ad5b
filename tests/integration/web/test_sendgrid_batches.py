"""Large SendGrid batches are applied in a few statements and record exactly what one report
at a time would: every state change gets its delivery event, nothing moves backwards, the
batch's failures start their fallbacks; a row changed meanwhile is handled one by one."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select, update

from dispatcher.store.models import Announcement, Contact, Delivery, DeliveryEvent
from dispatcher.store.schools import ensure_school
from tests.integration.web.test_sendgrid_webhooks import _sent_trip_letters, event
from tests.support.tracking import TUESDAY_10AM, Webhooks, deliveries, events

SENT_AT = TUESDAY_10AM


def _sent_emails(runtime: Any, n: int) -> list[int]:
    """``n`` emails recorded sent by SendGrid (rows written directly: planning and sending
    ten thousand families would take minutes)."""
    with runtime.sessions() as session:
        school_id = ensure_school(session, runtime.configuration.school("demo")).id
        announcement_id = session.scalar(
            insert(Announcement)
            .values(
                school_id=school_id,
                category="newsletter",
                urgency="bulk",
                audience=["school"],
                variables={},
                requested_by="test",
                state="done",
                created_at=SENT_AT,
            )
            .returning(Announcement.id)
        )
        session.execute(
            insert(Contact),
            [
                {
                    "school_id": school_id,
                    "external_id": f"C{i}",
                    "first_name": "A",
                    "last_name": "B",
                    "email": f"p{i}@example.com",
                }
                for i in range(n)
            ],
        )
        contact_ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        session.execute(
            insert(Delivery),
            [
                {
                    "announcement_id": announcement_id,
                    "contact_id": contact_id,
                    "channel": "email",
                    "kind": "primary",
                    "queue": "deliver-bulk",
                    "language": "en",
                    "format": "standard",
                    "state": "sent",
                    "provider": "sendgrid",
                    "provider_message_id": f"msg{contact_id}.{contact_id}",
                    "sent_at": SENT_AT,
                    "created_at": SENT_AT,
                    "updated_at": SENT_AT,
                }
                for contact_id in contact_ids
            ],
        )
        session.commit()
        return list(session.scalars(select(Delivery.id).order_by(Delivery.id)))


def _event(delivery_id: int, name: str, minutes: int) -> dict[str, Any]:
    return {
        "event": name,
        "delivery_id": str(delivery_id),
        "sg_message_id": f"msg{delivery_id}.filter0001",
        "timestamp": int((SENT_AT + timedelta(minutes=minutes)).timestamp()),
    }


def _count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_batch_of_20000_events_is_applied_with_one_event_per_change(
    runtime: Any, hooks: Webhooks, caplog: pytest.LogCaptureFixture
) -> None:
    ids = _sent_emails(runtime, 10_000)
    # each delivery: delivered, then (out of order) processed: one change, one event each
    batch = [_event(d, name, m) for d in ids for name, m in (("delivered", 2), ("processed", 1))]
    assert len(batch) == 20_000

    with caplog.at_level(logging.INFO, logger="dispatcher.tracking"):
        response = hooks.sendgrid(batch)

    assert response.status_code == 200, response.text
    assert response.json() == {"moved": 10_000, "unchanged": 10_000}
    assert _count(runtime, Delivery, Delivery.state == "delivered") == 10_000
    assert _count(runtime, DeliveryEvent) == 10_000
    assert _count(runtime, DeliveryEvent, DeliveryEvent.from_state == "sent") == 10_000
    with runtime.sessions() as session:
        first = session.get(Delivery, ids[0])
        assert first is not None and first.delivered_at is not None
        assert first.delivered_at.replace(tzinfo=UTC) == SENT_AT + timedelta(minutes=2)
    assert "one by one" not in caplog.text  # the batch path did it
    # the same batch again changes nothing
    again = hooks.sendgrid(batch)
    assert again.json() == {"unchanged": 20_000}
    assert _count(runtime, DeliveryEvent) == 10_000


def test_a_batch_records_what_one_report_at_a_time_records(runtime: Any, hooks: Webhooks) -> None:
    """Bounces and drops in a batch fail their deliveries with the code and start the
    fallback; a delivered after a bounce does not move it back; unknown ids are counted."""
    _, (ok, bounced, dropped) = _sent_trip_letters(runtime)
    batch = [
        event(ok, "processed"),
        event(ok, "open"),
        event(ok, "delivered"),
        event(bounced, "bounce", type="bounce", status="5.1.1", reason="550 unknown user"),
        event(bounced, "delivered"),
        event(dropped, "dropped", reason="Bounced Address"),
        {**event(ok, "delivered"), "delivery_id": "987654321"},
    ]

    response = hooks.sendgrid(batch)

    assert response.status_code == 200, response.text
    assert response.json() == {"moved": 3, "unchanged": 3, "unknown": 1}
    states = {d.id: d.state for d in deliveries(runtime, ok.announcement_id)}
    assert (states[ok.id], states[bounced.id], states[dropped.id]) == (
        "delivered",
        "bounced",
        "undelivered",
    )
    assert [e[1] for e in events(runtime, bounced.id)][-1] == "bounced"
    with runtime.sessions() as session:
        row = session.get(Delivery, bounced.id)
        assert row is not None and row.error_code == "5.1.1"
    # trip letters are normal: the bounced and dropped emails fall back to SMS
    assert len(hooks.queued) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_row_changed_while_the_batch_is_applied_is_handled_one_report_at_a_time(
    runtime: Any, hooks: Webhooks, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    import dispatcher.tracking.statuses as statuses

    ids = _sent_emails(runtime, 3)
    write_rows = statuses._write_rows
    other = create_engine(database_url)

    def a_worker_writes_first(session: Any, changed: list[Any]) -> None:
        with other.begin() as connection:  # another process moves the first row on
            connection.execute(
                update(Delivery).where(Delivery.id == ids[0]).values(state="delivered")
            )
        write_rows(session, changed)

    monkeypatch.setattr(statuses, "_write_rows", a_worker_writes_first)
    batch = [_event(d, "bounce", 1) for d in ids]

    response = hooks.sendgrid(batch)
    other.dispose()

    assert response.status_code == 200, response.text
    assert response.json() == {"moved": 2, "unchanged": 1}
    states = {d: s for d, s in _states(runtime, ids)}
    assert states == {ids[0]: "delivered", ids[1]: "bounced", ids[2]: "bounced"}
    assert _count(runtime, DeliveryEvent) == 2


def _states(runtime: Any, ids: list[int]) -> list[tuple[int, str]]:
    with runtime.sessions() as session:
        return [
            (row.id, row.state)
            for row in session.execute(
                select(Delivery.id, Delivery.state).where(Delivery.id.in_(ids))
            )
        ]
