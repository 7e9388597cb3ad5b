"""MIS webhooks: signatures, storage before acknowledgement, repeats, validation, and what
each event type does to announcements and the roster. SQLite and PostgreSQL, real Redis."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
from sqlalchemy import func, select

from dispatcher.queue.inflight import mis_marker
from dispatcher.queue.work import QueuedWork
from dispatcher.store.models import (
    Announcement,
    AuditEntry,
    Contact,
    Delivery,
    MisEvent,
    Student,
)
from dispatcher.triggers.mis.processing import (
    process_event,
    replay_received_events,
    store_event,
)
from dispatcher.triggers.mis.signing import sign
from tests.support.factories import import_roster, plan, row
from tests.support.waiting import wait_until

SECRET = "demo-mis-secret"
TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def mis_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_MIS_SECRET_DEMO", SECRET)


@pytest.fixture
def families(runtime: Any) -> Any:
    """S1 has a mother and a father (both with parental responsibility) and an emergency-only
    grandparent; S2 has its own mother."""
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="C1", mobile="07700 900001", email="c1@example.com"),
            row(
                student_id="S1",
                contact_id="C2",
                relationship="father",
                contact_first_name="Bill",
                mobile="07700 900002",
                email="c2@example.com",
            ),
            row(
                student_id="S1",
                contact_id="C3",
                relationship="grandmother",
                priority="3",
                parental_responsibility="N",
                mobile="07700 900003",
                email="c3@example.com",
            ),
            row(student_id="S2", contact_id="C4", mobile="07700 900004", email="c4@example.com"),
        ],
    )
    return runtime


def post(
    client: Any,
    event: Any,
    *,
    school: str = "demo",
    secret: str = SECRET,
    at: datetime | None = None,
    raw: bytes | None = None,
) -> Any:
    body = raw if raw is not None else json.dumps(event).encode()
    timestamp = str(int((at or datetime.now(UTC)).timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-MIS-Timestamp": timestamp,
        "X-MIS-Signature": sign(secret.encode(), timestamp, body),
    }
    return client.post(f"/webhooks/mis/{school}", content=body, headers=headers)


def payment_due(event_id: str = "evt_1", student_id: str = "S1", **data: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "student_id": student_id,
        "item": "Year 6 residential",
        "amount_pence": 8500,
        "due_date": "2026-12-04",
        "payment_link": "https://pay.example/r/S1",
    }
    values.update(data)
    return {"id": event_id, "type": "payment.due", "data": values}


def stored(runtime: Any) -> list[MisEvent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(MisEvent).order_by(MisEvent.id)))


def count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def process_all(runtime: Any, now: datetime = TUESDAY_10AM) -> list[QueuedWork]:
    queued: list[QueuedWork] = []
    for event in stored(runtime):
        process_event(runtime, event.id, now, queued.extend)
    return queued


# --- signatures and storage ----------------------------------------------------------------------


def test_a_signed_event_is_stored_as_received_and_queued(
    client: Any, families: Any, clean_redis: Any
) -> None:
    response = post(client, payment_due())
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "event_id": "evt_1"}
    [event] = stored(families)
    assert (event.event_id, event.event_type, event.status) == ("evt_1", "payment.due", "received")
    assert event.payload["data"]["amount_pence"] == 8500
    assert clean_redis.client.get(mis_marker(event.id)) is not None


def test_a_wrong_signature_is_refused_and_nothing_is_stored(client: Any, families: Any) -> None:
    response = post(client, payment_due(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["detail"][0]["field"] == "header.X-MIS-Signature"
    body = json.dumps(payment_due()).encode()
    unsigned = client.post("/webhooks/mis/demo", content=body)
    assert unsigned.status_code == 401
    assert stored(families) == []


def test_a_replayed_request_older_than_five_minutes_is_refused(client: Any, families: Any) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=6)
    response = post(client, payment_due(), at=stale)  # correctly signed, but too old
    assert response.status_code == 401
    assert response.json()["detail"][0]["field"] == "header.X-MIS-Timestamp"
    future = post(client, payment_due(), at=datetime.now(UTC) + timedelta(minutes=6))
    assert future.status_code == 401
    assert stored(families) == []


def test_a_repeated_event_id_is_acknowledged_and_ignored(
    client: Any, families: Any, clean_redis: Any
) -> None:
    assert post(client, payment_due()).status_code == 202
    again = post(client, payment_due(amount_pence=9900))
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": "evt_1"}
    [event] = stored(families)
    assert event.payload["data"]["amount_pence"] == 8500
    process_all(families)
    assert count(families, Announcement) == 1


def test_an_unknown_school_is_404_and_a_school_without_a_secret_is_401(
    client: Any, families: Any
) -> None:
    assert post(client, payment_due(), school="atlantis").status_code == 404
    response = post(client, payment_due(), school="brockmoor")
    assert response.status_code == 401
    assert stored(families) == []


# --- validation ------------------------------------------------------------------------------


def test_an_unknown_type_is_422_and_logged_without_personal_data(
    client: Any, families: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = {
        "id": "evt_9",
        "type": "pupil.teleported",
        "data": {"name": "Ada Lovelace", "phone": "07700 900001"},
    }
    with caplog.at_level(logging.INFO):
        response = post(client, event)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body.type"
    assert "pupil.teleported" in caplog.text
    assert "Ada" not in caplog.text and "900001" not in caplog.text
    assert stored(families) == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (payment_due(amount_pence="eighty-five pounds"), "body.data.amount_pence"),
        (payment_due(due_date="next Friday"), "body.data.due_date"),
        ({"id": "e", "type": "payment.due"}, "body.data"),
        (
            {
                "id": "e",
                "type": "contact.updated",
                "data": {"contact_id": "C1", "changes": {"mobile": "12"}},
            },
            "body.data.changes.mobile",
        ),
        # A valid link so long that the text would not fit in the category's 2 SMS segments.
        (payment_due(payment_link="https://pay.example/" + "x" * 300), "body.data"),
    ],
)
def test_an_invalid_payload_is_422_naming_the_field_and_not_stored(
    client: Any, families: Any, event: dict[str, Any], field: str
) -> None:
    response = post(client, event)
    assert response.status_code == 422, response.text
    assert field in [item["field"] for item in response.json()["detail"]]
    assert stored(families) == []


def test_a_body_that_is_not_json_is_422(client: Any, families: Any) -> None:
    response = post(client, None, raw=b"{not json")
    assert (response.status_code, response.json()["detail"][0]["field"]) == (422, "body")


# --- processing ------------------------------------------------------------------------------


def test_payment_due_sends_a_payment_request_to_the_students_parents(
    client: Any, families: Any
) -> None:
    assert post(client, payment_due()).status_code == 202
    queued = process_all(families)
    [event] = stored(families)
    assert event.status == "processed"
    assert event.announcement_id is not None
    assert queued == [QueuedWork("plan_announcement", event.announcement_id)]
    with families.sessions() as session:
        announcement = session.get(Announcement, event.announcement_id)
        assert announcement is not None
        assert announcement.category == "payment_request"
        assert announcement.audience == ["student:S1"]
        assert announcement.trigger == "mis"
        assert announcement.variables["amount"] == "£85.00"
        assert announcement.variables["due_date"] == "Friday 4 December 2026"
    plan(families, event.announcement_id, TUESDAY_10AM)
    with families.sessions() as session:
        reached = set(
            session.scalars(
                select(Contact.external_id)
                .join(Delivery, Delivery.contact_id == Contact.id)
                .where(Delivery.announcement_id == event.announcement_id)
            )
        )
        channels = set(
            session.scalars(
                select(Delivery.channel).where(Delivery.announcement_id == event.announcement_id)
            )
        )
    assert reached == {"C1", "C2"}  # not the grandmother, not S2's mother
    assert channels == {"sms"}
    # Processing the same event again (a repeated queue message) changes nothing.
    assert process_event(families, event.id, TUESDAY_10AM, lambda work: None) == "skipped"
    assert count(families, Announcement) == 1


def test_a_payment_for_an_unknown_student_fails_without_sending(client: Any, families: Any) -> None:
    assert post(client, payment_due(student_id="S404")).status_code == 202
    assert process_all(families) == []
    [event] = stored(families)
    assert event.status == "failed"
    assert event.error is not None and "no student" in event.error
    assert count(families, Announcement) == 0


def test_contact_updated_changes_the_roster(client: Any, families: Any) -> None:
    event = {
        "id": "evt_2",
        "type": "contact.updated",
        "data": {
            "contact_id": "C1",
            "changes": {
                "mobile": "+44 7700 900999",
                "email": None,
                "preferred_channel": "SMS",
                "language": "PL",
                "needs": "large_print;no_email",
            },
        },
    }
    assert post(client, event).status_code == 202
    process_all(families)
    with families.sessions() as session:
        contact = session.scalars(select(Contact).where(Contact.external_id == "C1")).one()
        untouched = session.scalars(select(Contact).where(Contact.external_id == "C2")).one()
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "roster.contact_updated")
        ).one()
    assert contact.phone_e164 == "+447700900999" and contact.phone_sms_capable
    assert contact.email is None
    assert contact.preferred_channel == "sms"
    assert contact.language == "pl"
    assert contact.needs == "large_print;no_email"
    assert contact.first_name == "Anne"  # fields not given stay as they were
    assert untouched.email == "c2@example.com"
    assert audit.actor == "mis:demo"
    assert audit.detail["fields"] == ["email", "language", "mobile", "needs", "preferred_channel"]
    assert stored(families)[0].status == "processed"


def test_student_left_takes_the_student_out_of_audiences(client: Any, families: Any) -> None:
    left = {"id": "evt_3", "type": "student.left", "data": {"student_id": "S2"}}
    assert post(client, left).status_code == 202
    process_all(families)
    with families.sessions() as session:
        active = {
            sid: on for sid, on in session.execute(select(Student.external_id, Student.active))
        }
    assert active == {"S1": True, "S2": False}
    assert post(client, payment_due("evt_4", student_id="S2")).status_code == 202
    process_all(families)
    failed = stored(families)[-1]
    assert failed.status == "failed" and "left" in (failed.error or "")


# --- durability ----------------------------------------------------------------------------------


def test_events_the_queue_lost_are_queued_again_by_the_sweep(
    client: Any, families: Any, clean_redis: Any
) -> None:
    assert post(client, payment_due()).status_code == 202
    [event] = stored(families)
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert replay_received_events(families, clean_redis, later) == 0  # still in flight
    clean_redis.client.flushdb()  # Redis restarted without persistence
    assert replay_received_events(families, clean_redis, later) == 1
    assert clean_redis.client.get(mis_marker(event.id)) is not None
    assert replay_received_events(families, clean_redis, later) == 0
    process_all(families)
    assert replay_received_events(families, clean_redis, later) == 0  # processed: left alone


def test_the_recovery_sweep_requeues_lost_events(
    client: Any, families: Any, clean_redis: Any
) -> None:
    from dispatcher.worker.sweep import sweep

    assert post(client, payment_due()).status_code == 202
    [event] = stored(families)
    clean_redis.client.flushdb()
    sweep(families, clean_redis, datetime.now(UTC) + timedelta(seconds=30))
    assert clean_redis.client.get(mis_marker(event.id)) is not None


@pytest.fixture
def worker(clean_redis: Any) -> Iterator[Any]:
    from dispatcher.worker.run import start_workers

    started: list[dramatiq.Worker] = []

    def start() -> None:
        started.extend(start_workers(clean_redis, 2))

    yield start
    for w in started:
        w.stop()


def test_a_worker_processes_the_event_and_plans_the_payment(
    client: Any, families: Any, worker: Any, clean_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert post(client, payment_due()).status_code == 202
    worker()
    from dispatcher.worker.sweep import sweep

    next_sweep = time.monotonic() + 2

    def planned() -> bool:
        nonlocal next_sweep
        if time.monotonic() > next_sweep:  # as `dispatcher worker` does, in case Redis lost work
            sweep(families, clean_redis, datetime.now(UTC) + timedelta(seconds=10))
            next_sweep = time.monotonic() + 2
        return count(families, Delivery) >= 2

    def explain() -> str:
        events = [(e.status, e.error, e.announcement_id) for e in stored(families)]
        with families.sessions() as session:
            states = session.execute(
                select(Announcement.id, Announcement.state, Announcement.planned_deliveries)
            ).all()
        return f"events {events}; {states}; {families.settings.database_url}; log:\n{caplog.text}"

    wait_until(planned, 60, what="the payment planned for both contacts", explain=explain)
    [event] = stored(families)
    assert event.status == "processed"
    with families.sessions() as session:
        reached = set(
            session.scalars(
                select(Contact.external_id).join(Delivery, Delivery.contact_id == Contact.id)
            )
        )
    assert reached == {"C1", "C2"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (("[" * 5000 + "]" * 5000).encode(), "nested 5,000 deep"),
        ('{"id": "evt_1", "type": "payment.due", "x": "caf\xe9"}'.encode("latin-1"), "latin-1"),
    ],
)
def test_a_signed_mis_event_that_cannot_be_read_is_400_and_not_stored(
    client: Any, families: Any, body: bytes, why: str
) -> None:
    response = post(client, None, raw=body)

    assert response.status_code == 400, why
    assert response.json()["detail"][0]["field"] == "body"
    assert stored(families) == []


def test_a_payment_link_that_is_not_https_is_refused_naming_it(client: Any, families: Any) -> None:
    response = post(client, payment_due(payment_link="javascript:alert(1)"))

    assert response.status_code == 422, response.text
    assert "body.data.payment_link" in [item["field"] for item in response.json()["detail"]]
    assert stored(families) == []


def test_a_stored_payment_event_with_an_unsafe_link_is_marked_failed_with_the_reason(
    families: Any,
) -> None:
    """An event stored before the link rule (or by another version) fails when processed."""
    from dispatcher.store.schools import ensure_school
    from dispatcher.triggers.mis.events import parse_event

    event = payment_due("evt_js")
    with families.sessions() as session:
        school_id = ensure_school(session, families.configuration.school("demo")).id
        session.commit()
        envelope, _ = parse_event(event)
        event["data"]["payment_link"] = "javascript:alert(1)"
        row_id = store_event(session, school_id, envelope, event, datetime.now(UTC))
    assert row_id is not None

    assert process_event(families, row_id, datetime.now(UTC), lambda work: None) == "failed"

    with families.sessions() as session:
        stored_event = session.get(MisEvent, row_id)
        assert stored_event is not None and "payment_link" in (stored_event.error or "")
        assert session.scalar(select(func.count()).select_from(Announcement)) == 0
