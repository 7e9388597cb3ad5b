"""School days through the triggers (issue 15, problem 3): a payment request from the MIS
webhook, a newsletter from the REST API, each on 28 December 2026 (Boxing Day's substitute
bank holiday, in the demo school's Christmas holiday), waits for the first day of the Spring
term (Monday 4 January 2027, 08:00), and goes then; an emergency closure the same morning goes
at once. SQLite and PostgreSQL, real Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from dispatcher.access.tokens import create_token
from dispatcher.delivery.deliver import deliver_batch
from dispatcher.delivery.outcomes import Outcome
from dispatcher.store.models import Delivery, MisEvent
from dispatcher.triggers.mis.processing import process_event
from dispatcher.triggers.mis.signing import sign
from tests.support.factories import CLOSURE_VARS, import_roster, plan, row

SECRET = "demo-mis-secret"
BOXING_DAY_OBSERVED = datetime(2026, 12, 28, 10, 0, tzinfo=UTC)
FIRST_DAY_OF_TERM = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def mis_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_MIS_SECRET_DEMO", SECRET)


@pytest.fixture
def family(runtime: Any) -> Any:
    import_roster(
        runtime,
        [row(student_id="S1", contact_id="C1", mobile="07700 900001", email="c1@example.com")],
    )
    return runtime


def _token(runtime: Any) -> dict[str, str]:
    with runtime.sessions() as session:
        _, secret = create_token(
            session, runtime.configuration, "senior-demo", "senior", "demo", datetime.now(UTC)
        )
    return {"Authorization": f"Bearer {secret}"}


def _not_before(delivery: Delivery) -> datetime:
    assert delivery.not_before is not None
    return delivery.not_before.replace(tzinfo=UTC)


def _deliveries(runtime: Any, announcement_id: int) -> list[Delivery]:
    with runtime.sessions() as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.announcement_id == announcement_id))
        )


def _post_payment_due(client: Any) -> Any:
    body = json.dumps(
        {
            "id": "evt_xmas",
            "type": "payment.due",
            "data": {
                "student_id": "S1",
                "item": "Spring term dinners",
                "amount_pence": 4200,
                "due_date": "2027-01-08",
                "payment_link": "https://pay.example/r/S1",
            },
        }
    ).encode()
    stamp = str(int(datetime.now(UTC).timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-MIS-Timestamp": stamp,
        "X-MIS-Signature": sign(SECRET.encode(), stamp, body),
    }
    return client.post("/webhooks/mis/demo", content=body, headers=headers)


def test_an_mis_payment_request_on_a_bank_holiday_waits_for_the_first_day_of_term(
    client: Any, family: Any
) -> None:
    with time_machine.travel(BOXING_DAY_OBSERVED, tick=False):
        assert _post_payment_due(client).status_code == 202
        with family.sessions() as session:
            event_id = session.scalars(select(MisEvent.id)).one()
        process_event(family, event_id, BOXING_DAY_OBSERVED, lambda work: None)
        with family.sessions() as session:
            announcement_id = session.scalars(select(MisEvent.announcement_id)).one()
        queued = plan(family, announcement_id, BOXING_DAY_OBSERVED)
    [delivery] = _deliveries(family, announcement_id)
    assert (delivery.channel, delivery.state) == ("sms", "held")
    assert _not_before(delivery) == FIRST_DAY_OF_TERM
    assert queued[0].delay_ms == int(
        (FIRST_DAY_OF_TERM - BOXING_DAY_OBSERVED).total_seconds() * 1e3
    )

    # A queue message that arrives early (New Year's Eve) sends nothing.
    new_years_eve = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    early = deliver_batch(family, [delivery.id], lambda: new_years_eve, lambda work: None)
    assert early.outcomes[delivery.id] is Outcome.SKIPPED
    assert _deliveries(family, announcement_id)[0].state == "held"
    sent = deliver_batch(family, [delivery.id], lambda: FIRST_DAY_OF_TERM, lambda work: None)
    assert sent.outcomes[delivery.id] is Outcome.SENT


def test_an_api_newsletter_in_the_holiday_waits_and_the_dry_run_says_when(
    client: Any, family: Any
) -> None:
    headers = _token(family)
    newsletter = {
        "school": "demo",
        "category": "newsletter",
        "audience": ["school"],
        "variables": {"title": "Spring term news", "url": "https://demo-primary.example/n"},
    }
    with time_machine.travel(BOXING_DAY_OBSERVED, tick=False):
        preview = client.post("/api/announcements?dry_run=true", json=newsletter, headers=headers)
        assert preview.status_code == 200, preview.text
        plan_out = preview.json()
        created = client.post("/api/announcements", json=newsletter, headers=headers)
        assert created.status_code == 201, created.text
        plan(family, created.json()["id"], BOXING_DAY_OBSERVED)
    assert plan_out["hold_until"] == "2027-01-04T08:00:00Z"
    assert plan_out["hold_until_local"] == "Monday 4 January 2027 at 08:00"
    assert (
        plan_out["hold_reason"] == "Monday 28 December 2026: bank holiday (Boxing Day (observed))"
    )
    [delivery] = _deliveries(family, created.json()["id"])
    assert delivery.state == "held"
    assert _not_before(delivery) == FIRST_DAY_OF_TERM


def test_an_emergency_closure_in_the_holiday_goes_at_once(client: Any, family: Any) -> None:
    headers = _token(family)
    closure = {
        "school": "demo",
        "category": "emergency_closure",
        "audience": ["school"],
        "variables": CLOSURE_VARS,
    }
    with time_machine.travel(BOXING_DAY_OBSERVED, tick=False):
        preview = client.post("/api/announcements?dry_run=true", json=closure, headers=headers)
        created = client.post("/api/announcements", json=closure, headers=headers)
        plan(family, created.json()["id"], BOXING_DAY_OBSERVED)
    assert preview.json()["hold_until"] is None and preview.json()["hold_reason"] is None
    assert {d.state for d in _deliveries(family, created.json()["id"])} == {"pending"}
