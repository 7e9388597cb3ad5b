"""The REST API for announcements: idempotency, dry runs, roles, school scoping, reading,
listing, cancelling and reports. Each test runs on SQLite and PostgreSQL with real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatcher.access.tokens import create_token
from dispatcher.domain import DeliveryState
from dispatcher.queue.inflight import plan_marker
from dispatcher.store.deliveries import claim_delivery, move_delivery
from dispatcher.store.models import Announcement, AuditEntry, Delivery, IdempotencyRecord
from tests.support.factories import CLOSURE_VARS, import_roster, plan, row

TUESDAY_10AM = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TRIP = {
    "trip": "Year 6 residential",
    "date": "Monday 8 June",
    "letter_url": "https://demo-primary.example/letters/y6",
}


def token_for(runtime: Any, role: str, school: str | None = "demo", name: str = "") -> str:
    """Create a token and return the ``Authorization`` header value for it."""
    with runtime.sessions() as session:
        _, secret = create_token(
            session,
            runtime.configuration,
            name or f"{role}-{school or 'trust'}",
            role,
            school,
            datetime.now(UTC),
        )
    return f"Bearer {secret}"


def count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def roster(runtime: Any) -> Any:
    """Two Year 6 families and one Year 5 family at the demo school."""
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="C1", mobile="07700 900001", email="c1@example.com"),
            row(student_id="S2", contact_id="C2", mobile="07700 900002", email="c2@example.com"),
            row(
                student_id="S3",
                year="5",
                **{"class": "5A"},
                contact_id="C3",
                mobile="07700 900003",
                email="c3@example.com",
            ),
        ],
    )
    return runtime


def trip_letter(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "school": "demo",
        "category": "trip_letter",
        "audience": ["year:6"],
        "variables": dict(TRIP),
    }
    body.update(overrides)
    return body


def closure() -> dict[str, Any]:
    return {
        "school": "demo",
        "category": "emergency_closure",
        "audience": ["school"],
        "variables": dict(CLOSURE_VARS),
    }


def fields(response: Any) -> list[str]:
    return [item["field"] for item in response.json()["detail"]]


# --- sending and idempotency ---------------------------------------------------------------


def test_send_stores_the_announcement_audits_the_token_and_queues_its_plan(
    client: Any, roster: Any, clean_redis: Any
) -> None:
    auth = token_for(roster, "office", name="office-anne")
    response = client.post(
        "/api/announcements", json=trip_letter(), headers={"Authorization": auth}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "received"
    assert body["requested_by"] == "office-anne"
    assert body["trigger"] == "api"
    assert response.headers["Location"] == f"/api/announcements/{body['id']}"
    assert clean_redis.client.get(plan_marker(body["id"])) is not None  # plan queued
    with roster.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.announcement_id == body["id"]))
        audit = entry.one()
    assert audit.actor == "office-anne"
    assert audit.action == "announcement.created"
    assert audit.detail["trigger"] == "api"


def test_same_key_and_body_returns_the_first_announcement(
    client: Any, roster: Any, clean_redis: Any
) -> None:
    headers = {"Authorization": token_for(roster, "office"), "Idempotency-Key": "trip-1"}
    first = client.post("/api/announcements", json=trip_letter(), headers=headers)
    clean_redis.client.delete(plan_marker(first.json()["id"]))
    again = client.post("/api/announcements", json=trip_letter(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert count(roster, Announcement) == 1
    # The repeat queued nothing: only the first request queued a plan.
    assert clean_redis.client.get(plan_marker(first.json()["id"])) is None


def test_same_key_with_another_body_is_a_conflict(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office"), "Idempotency-Key": "trip-1"}
    assert client.post("/api/announcements", json=trip_letter(), headers=headers).status_code == 201
    other = trip_letter(audience=["year:5"])
    response = client.post("/api/announcements", json=other, headers=headers)
    assert response.status_code == 409
    assert fields(response) == ["header.Idempotency-Key"]
    assert count(roster, Announcement) == 1


def test_keys_belong_to_their_token(client: Any, roster: Any) -> None:
    one = {"Authorization": token_for(roster, "office", name="a"), "Idempotency-Key": "k"}
    two = {"Authorization": token_for(roster, "office", name="b"), "Idempotency-Key": "k"}
    first = client.post("/api/announcements", json=trip_letter(), headers=one)
    second = client.post("/api/announcements", json=trip_letter(), headers=two)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_send_at_in_another_offset_is_the_same_request(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office"), "Idempotency-Key": "later"}
    moment = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    paris = timezone(timedelta(hours=1))
    utc = trip_letter(send_at=moment.isoformat())
    same = trip_letter(send_at=moment.astimezone(paris).isoformat())
    first = client.post("/api/announcements", json=utc, headers=headers)
    again = client.post("/api/announcements", json=same, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert datetime.fromisoformat(first.json()["send_at"]) == moment


def test_dry_run_returns_the_plan_and_sends_nothing(
    client: Any, roster: Any, clean_redis: Any
) -> None:
    headers = {"Authorization": token_for(roster, "senior"), "Idempotency-Key": "dry"}
    response = client.post("/api/announcements?dry_run=true", json=closure(), headers=headers)
    assert response.status_code == 200, response.text
    plan_body = response.json()
    assert plan_body["announcement_id"] is None
    assert plan_body["recipients"] == 3
    assert plan_body["deliveries"] == {"sms": 3, "email": 3}
    assert plan_body["email_backups"] == 3
    assert plan_body["languages"] == {"en": 6}
    assert plan_body["sms_segments"] >= 3
    assert float(plan_body["estimated_cost_gbp"]) > 0
    assert plan_body["unreachable"] == []
    assert count(roster, Announcement) == 0
    assert count(roster, IdempotencyRecord) == 0
    assert clean_redis.client.keys("dispatcher:inflight:plan:*") == []
    # The key was not used up by the dry run.
    real = client.post("/api/announcements", json=closure(), headers=headers)
    assert real.status_code == 201


def test_dry_run_lists_who_cannot_be_reached(client: Any, runtime: Any) -> None:
    import_roster(runtime, [row(mobile="01632 960001", email="")])  # a landline, no email
    headers = {"Authorization": token_for(runtime, "senior")}
    response = client.post("/api/announcements?dry_run=true", json=closure(), headers=headers)
    [person] = response.json()["unreachable"]
    assert person["contact_id"] == "C1"
    assert person["phone"] == "+441632960001"


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "snow_day"}, "body.category"),
        ({"school": "atlantis"}, "body.school"),
        ({"audience": ["year:99"]}, "body.audience"),
        ({"audience": []}, "body.audience"),
        ({"variables": {"trip": "Paris"}}, "body.variables"),
        ({"send_at": "2030-01-07T09:00:00"}, "body.send_at"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_a_bad_field_is_named(client: Any, roster: Any, change: dict[str, Any], field: str) -> None:
    headers = {"Authorization": token_for(roster, "admin", school=None)}
    response = client.post("/api/announcements", json=trip_letter(**change), headers=headers)
    assert response.status_code == 422
    assert field in fields(response)
    assert all(item["message"] for item in response.json()["detail"])
    assert count(roster, Announcement) == 0


def test_a_missing_variable_is_named_in_the_message(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    body = trip_letter(variables={"trip": "Paris", "date": "Monday 8 June"})
    [error] = client.post("/api/announcements", json=body, headers=headers).json()["detail"]
    assert error["field"] == "body.variables"
    assert "letter_url" in error["message"]


def test_a_missing_field_is_named(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    body = trip_letter()
    del body["category"]
    response = client.post("/api/announcements", json=body, headers=headers)
    assert response.status_code == 422
    assert fields(response) == ["body.category"]


# --- authentication, roles, schools --------------------------------------------------------------


def test_no_token_unknown_token_and_revoked_token_get_401(client: Any, roster: Any) -> None:
    from dispatcher.access.tokens import revoke_token

    auth = token_for(roster, "office", name="soon-revoked")
    for headers in ({}, {"Authorization": "Bearer dsp_not-a-token"}, {"Authorization": "Basic x"}):
        response = client.get("/api/announcements", headers=headers)
        assert response.status_code == 401
        assert fields(response) == ["header.Authorization"]
    assert client.get("/api/announcements", headers={"Authorization": auth}).status_code == 200
    with roster.sessions() as session:
        revoke_token(session, "soon-revoked", datetime.now(UTC))
    response = client.post(
        "/api/announcements", json=trip_letter(), headers={"Authorization": auth}
    )
    assert response.status_code == 401
    assert count(roster, Announcement) == 0


def test_office_cannot_send_an_emergency_closure(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    body = closure()
    body["audience"] = ["year:6"]
    response = client.post("/api/announcements", json=body, headers=headers)
    assert response.status_code == 403
    [error] = response.json()["detail"]
    assert error["field"] == "body.category"
    assert "urgent" in error["message"] and "senior" in error["message"]
    assert count(roster, Announcement) == 0


def test_office_cannot_send_to_the_whole_school(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    response = client.post(
        "/api/announcements", json=trip_letter(audience=["school"]), headers=headers
    )
    assert response.status_code == 403
    [error] = response.json()["detail"]
    assert error["field"] == "body.audience"
    assert "whole-school" in error["message"]


@pytest.mark.parametrize("role", ["senior", "admin"])
def test_senior_and_admin_may_send_urgent_whole_school(client: Any, roster: Any, role: str) -> None:
    headers = {"Authorization": token_for(roster, role)}
    assert client.post("/api/announcements", json=closure(), headers=headers).status_code == 201


def test_a_school_token_cannot_touch_another_school(client: Any, roster: Any) -> None:
    demo = {"Authorization": token_for(roster, "senior", name="demo-senior")}
    brockmoor = {"Authorization": token_for(roster, "senior", "brockmoor", name="bm-senior")}
    trust = {"Authorization": token_for(roster, "admin", None, name="trust-admin")}
    other = closure() | {"school": "brockmoor"}
    refused = client.post("/api/announcements", json=other, headers=demo)
    assert refused.status_code == 403
    assert fields(refused) == ["body.school"]
    created = client.post("/api/announcements", json=other, headers=brockmoor).json()
    for path in (
        f"/api/announcements/{created['id']}",
        f"/api/announcements/{created['id']}/report",
    ):
        assert client.get(path, headers=demo).status_code == 403
        assert client.get(path, headers=brockmoor).status_code == 200
        assert client.get(path, headers=trust).status_code == 200
    assert (
        client.post(f"/api/announcements/{created['id']}/cancel", headers=demo).status_code == 403
    )
    listed = client.get("/api/announcements?school=brockmoor", headers=demo)
    assert listed.status_code == 403
    assert fields(listed) == ["query.school"]


# --- reading and listing -------------------------------------------------------------------------


def test_get_and_list(client: Any, roster: Any) -> None:
    demo = {"Authorization": token_for(roster, "senior", name="demo-senior")}
    trust = {"Authorization": token_for(roster, "admin", None, name="trust-admin")}
    first = client.post("/api/announcements", json=trip_letter(), headers=demo).json()
    second = client.post("/api/announcements", json=closure(), headers=demo).json()
    elsewhere = client.post(
        "/api/announcements", json=closure() | {"school": "brockmoor"}, headers=trust
    ).json()
    got = client.get(f"/api/announcements/{first['id']}", headers=demo)
    assert got.status_code == 200
    assert got.json()["category"] == "trip_letter"
    assert got.json()["audience"] == ["year:6"]

    def ids(query: str, headers: dict[str, str]) -> list[int]:
        response = client.get(f"/api/announcements{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["announcements"]]

    assert ids("", demo) == [second["id"], first["id"]]  # own school only, newest first
    assert ids("?school=demo", trust) == [second["id"], first["id"]]
    assert ids("", trust) == [elsewhere["id"], second["id"], first["id"]]
    assert ids("?limit=1&offset=1", demo) == [first["id"]]
    missing = client.get("/api/announcements/999999", headers=demo)
    assert missing.status_code == 404
    assert fields(missing) == ["path.announcement_id"]
    unknown = client.get("/api/announcements?school=atlantis", headers=trust)
    assert (unknown.status_code, fields(unknown)) == (422, ["query.school"])


# --- cancelling ----------------------------------------------------------------------------------


def test_cancel_stops_what_has_not_gone_and_keeps_what_has(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "senior")}
    announcement = client.post("/api/announcements", json=closure(), headers=headers).json()
    plan(roster, announcement["id"], TUESDAY_10AM)
    with roster.sessions() as session:
        first, second = session.scalars(
            select(Delivery.id)
            .where(Delivery.announcement_id == announcement["id"])
            .order_by(Delivery.id)
            .limit(2)
        ).all()
        assert claim_delivery(session, first, TUESDAY_10AM)  # being sent right now
        assert claim_delivery(session, second, TUESDAY_10AM)
        assert move_delivery(session, second, DeliveryState.SENT, now=TUESDAY_10AM)
        session.commit()
    response = client.post(f"/api/announcements/{announcement['id']}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["announcement"]["state"] == "cancelled"
    assert result["cancelled_deliveries"] == 4
    assert result["deliveries_by_state"] == {"cancelled": 4, "sending": 1, "sent": 1}
    again = client.post(f"/api/announcements/{announcement['id']}/cancel", headers=headers)
    assert again.json()["cancelled_deliveries"] == 0
    with roster.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.announcement_id == announcement["id"])
        ).all()
    assert actions.count("announcement.cancelled") == 2


def test_a_cancelled_announcement_is_never_planned(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    announcement = client.post(
        "/api/announcements", json=trip_letter(send_at=later), headers=headers
    ).json()
    response = client.post(f"/api/announcements/{announcement['id']}/cancel", headers=headers)
    assert response.json()["cancelled_deliveries"] == 0
    assert plan(roster, announcement["id"], TUESDAY_10AM) == []  # the plan job comes later
    assert count(roster, Delivery, Delivery.announcement_id == announcement["id"]) == 0
    got = client.get(f"/api/announcements/{announcement['id']}", headers=headers).json()
    assert got["state"] == "cancelled"


def test_office_cannot_cancel_an_emergency_closure(client: Any, roster: Any) -> None:
    senior = {"Authorization": token_for(roster, "senior")}
    office = {"Authorization": token_for(roster, "office")}
    announcement = client.post("/api/announcements", json=closure(), headers=senior).json()
    response = client.post(f"/api/announcements/{announcement['id']}/cancel", headers=office)
    assert response.status_code == 403
    assert "urgent" in response.json()["detail"][0]["message"]
    assert (
        client.get(f"/api/announcements/{announcement['id']}", headers=office).json()["state"]
        == "received"
    )


# --- report ----------------------------------------------------------------------------------


def test_report_counts_deliveries(client: Any, roster: Any) -> None:
    headers = {"Authorization": token_for(roster, "senior")}
    announcement = client.post("/api/announcements", json=closure(), headers=headers).json()
    plan(roster, announcement["id"], TUESDAY_10AM)
    response = client.get(f"/api/announcements/{announcement['id']}/report", headers=headers)
    assert response.status_code == 200
    report = response.json()
    assert report["announcement_id"] == announcement["id"]
    assert report["counts"] == {"email": {"pending": 3}, "sms": {"pending": 3}}
    missing = client.get("/api/announcements/424242/report", headers=headers)
    assert (missing.status_code, fields(missing)) == (404, ["path.announcement_id"])


@pytest.mark.parametrize(
    "send_at", ["0001-01-01T00:00:00+14:00", "1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z"]
)
def test_send_at_must_be_a_sensible_time(client: Any, roster: Any, send_at: str) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    response = client.post("/api/announcements", json=trip_letter(send_at=send_at), headers=headers)
    assert response.status_code == 422
    assert fields(response) == ["body.send_at"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (("[" * 5000 + "]" * 5000).encode(), "nested 5,000 deep"),
        ('{"school": "d\xe9mo"}'.encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_json_api_body_that_cannot_be_read_is_400_in_the_error_shape(
    runtime: Any, client: Any, body: bytes, why: str
) -> None:
    response = client.post(
        "/api/announcements",
        content=body,
        headers={"Authorization": token_for(runtime, "admin"), "Content-Type": "application/json"},
    )

    assert response.status_code == 400, why
    assert response.json()["detail"][0]["field"] == "body"


@pytest.mark.parametrize(
    "link", ["javascript:alert(document.cookie)", "http://demo-primary.example/letters/y6"]
)
def test_a_link_variable_that_is_not_https_is_422_naming_it_and_nothing_is_stored(
    client: Any, roster: Any, link: str
) -> None:
    headers = {"Authorization": token_for(roster, "office")}
    body = trip_letter(variables={**TRIP, "letter_url": link})

    response = client.post("/api/announcements", json=body, headers=headers)
    dry_run = client.post("/api/announcements?dry_run=true", json=body, headers=headers)

    assert (response.status_code, fields(response)) == (422, ["body.variables.letter_url"])
    assert "https://" in response.json()["detail"][0]["message"]
    assert link not in response.text
    assert dry_run.status_code == 422
    assert count(roster, Announcement) == 0
