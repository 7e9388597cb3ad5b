"""Live progress (issue 16): ``GET /api/announcements/{id}/progress`` gives per channel
pending / sent / delivered / failed / cancelled, the share through and the first and last
send, cheaply enough to poll every two seconds; scoped like the report. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from dispatcher.access.tokens import create_token
from dispatcher.store.models import Delivery
from tests.support.factories import create, import_roster, many_families, plan


def bearer(runtime: Any, name: str, school: str) -> dict[str, str]:
    with runtime.sessions() as session:
        _, secret = create_token(
            session, runtime.configuration, name, "office", school, datetime.now(UTC)
        )
    return {"Authorization": f"Bearer {secret}"}


def test_progress_follows_the_messages_as_they_go(client: Any, runtime: Any) -> None:
    import_roster(runtime, many_families(4))
    announcement_id = create(runtime)  # an emergency closure: a text and the email back-up
    office = bearer(runtime, "office-demo", "demo")
    path = f"/api/announcements/{announcement_id}/progress"

    before = client.get(path, headers=office).json()
    assert before["state"] == "received" and before["percent_through"] is None
    assert before["messages"]["total"] == 0

    plan(runtime, announcement_id)
    planned = client.get(path, headers=office).json()
    assert planned["state"] == "sending"
    assert planned["channels"]["sms"] == {
        "pending": 4,
        "sent": 0,
        "delivered": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 4,
    }
    assert planned["channels"]["email"]["pending"] == 4
    assert planned["percent_through"] == 0 and planned["first_sent_at"] is None

    first = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)
    with runtime.sessions() as session:
        sms = session.scalars(
            select(Delivery.id).where(Delivery.channel == "sms").order_by(Delivery.id)
        ).all()
        emails = session.scalars(select(Delivery.id).where(Delivery.channel == "email")).all()
        for n, delivery_id in enumerate(sms[:3]):
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(state="delivered" if n else "sent", sent_at=first + timedelta(seconds=n))
            )
        session.execute(update(Delivery).where(Delivery.id == emails[0]).values(state="bounced"))
        session.commit()

    going = client.get(path, headers=office).json()
    assert going["channels"]["sms"]["sent"] == 1
    assert going["channels"]["sms"]["delivered"] == 2
    assert going["channels"]["sms"]["pending"] == 1
    assert going["channels"]["email"]["failed"] == 1
    assert going["messages"]["through"] == 4 and going["messages"]["total"] == 8
    assert going["percent_through"] == 50
    assert going["first_sent_at"] == "2026-12-07T06:45:00Z"
    assert going["last_sent_at"] == "2026-12-07T06:45:02Z"


def test_progress_is_scoped_like_the_report(client: Any, runtime: Any) -> None:
    import_roster(runtime, many_families(1))
    announcement_id = create(runtime)
    elsewhere = bearer(runtime, "office-brockmoor", "brockmoor")
    refused = client.get(f"/api/announcements/{announcement_id}/progress", headers=elsewhere)
    assert refused.status_code == 403
    assert client.get("/api/announcements/987654/progress", headers=elsewhere).status_code == 404
    assert client.get(f"/api/announcements/{announcement_id}/progress").status_code == 401
