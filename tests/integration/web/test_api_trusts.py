"""Token scopes for trusts (issue 15, problem 5; decision 0073): a school token cannot send to
its sibling school of the same trust, a trust token acts for its member schools only, and a
token with neither acts for every school. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dispatcher.access.tokens import create_token
from tests.support.factories import CLOSURE_VARS, import_roster, row


def bearer(runtime: Any, name: str, school: str | None = None, trust: str | None = None) -> Any:
    with runtime.sessions() as session:
        _, secret = create_token(
            session, runtime.configuration, name, "senior", school, datetime.now(UTC), trust
        )
    return {"Authorization": f"Bearer {secret}"}


def closure(school: str) -> dict[str, Any]:
    return {
        "school": school,
        "category": "emergency_closure",
        "audience": ["school"],
        "variables": CLOSURE_VARS,
    }


def test_a_school_token_cannot_send_to_its_sibling_school(client: Any, runtime: Any) -> None:
    for slug in ("sendat-a", "sendat-b"):
        import_roster(runtime, [row()], school=slug)
    school_a = bearer(runtime, "senior-sendat-a", school="sendat-a")
    assert (
        client.post("/api/announcements", json=closure("sendat-a"), headers=school_a).status_code
        == 201
    )
    refused = client.post("/api/announcements", json=closure("sendat-b"), headers=school_a)
    assert refused.status_code == 403
    assert "sendat-b" in refused.text and "sendat-a" in refused.text
    dry = client.post("/api/announcements?dry_run=true", json=closure("sendat-b"), headers=school_a)
    assert dry.status_code == 403


def test_a_trust_token_acts_for_its_member_schools_only(client: Any, runtime: Any) -> None:
    for slug in ("sendat-a", "sendat-b", "brockmoor"):
        import_roster(runtime, [row()], school=slug)
    trust = bearer(runtime, "senior-sendat", trust="sendat")
    every = bearer(runtime, "senior-everywhere")
    a = client.post("/api/announcements", json=closure("sendat-a"), headers=trust)
    b = client.post("/api/announcements", json=closure("sendat-b"), headers=trust)
    assert (a.status_code, b.status_code) == (201, 201)
    outside = client.post("/api/announcements", json=closure("brockmoor"), headers=trust)
    assert outside.status_code == 403 and "trust 'sendat'" in outside.text
    elsewhere = client.post("/api/announcements", json=closure("brockmoor"), headers=every)
    assert elsewhere.status_code == 201
    # Reading and listing keep to the same scope.
    assert client.get(f"/api/announcements/{a.json()['id']}", headers=trust).status_code == 200
    report = f"/api/announcements/{elsewhere.json()['id']}/report"
    assert client.get(report, headers=trust).status_code == 403
    listed = client.get("/api/announcements", headers=trust).json()["announcements"]
    assert sorted(x["school"] for x in listed) == ["sendat-a", "sendat-b"]
    assert len(client.get("/api/announcements", headers=every).json()["announcements"]) == 3


def trust_closure() -> dict[str, Any]:
    return {"category": "emergency_closure", "audience": ["school"], "variables": CLOSURE_VARS}


def stored(runtime: Any) -> list[tuple[str, str, str]]:
    """Every announcement as (school, requested_by, trust in its audit entry)."""
    from sqlalchemy import select

    from dispatcher.store.models import Announcement, AuditEntry, School

    with runtime.sessions() as session:
        rows = session.execute(
            select(School.slug, Announcement.requested_by, AuditEntry.detail)
            .join(Announcement, Announcement.school_id == School.id)
            .join(AuditEntry, AuditEntry.announcement_id == Announcement.id)
            .where(AuditEntry.action == "announcement.created")
            .order_by(School.slug)
        ).all()
    return [(slug, by, detail.get("trust", "")) for slug, by, detail in rows]


def test_a_trust_token_sends_to_every_member_school_in_one_request(
    client: Any, runtime: Any
) -> None:
    for slug in ("sendat-a", "sendat-b", "brockmoor"):
        import_roster(runtime, [row()], school=slug)
    trust = bearer(runtime, "senior-sendat", trust="sendat")
    key = {**trust, "Idempotency-Key": "snow-day-1"}

    sent = client.post("/api/trusts/sendat/announcements", json=trust_closure(), headers=key)

    assert sent.status_code == 201
    answer = sent.json()
    assert answer["trust"] == "sendat"
    assert sorted(a["school"] for a in answer["announcements"]) == ["sendat-a", "sendat-b"]
    assert stored(runtime) == [
        ("sendat-a", "senior-sendat", "sendat"),
        ("sendat-b", "senior-sendat", "sendat"),
    ]
    for announcement in answer["announcements"]:
        one = client.get(f"/api/announcements/{announcement['id']}", headers=trust)
        assert one.json()["school"] == announcement["school"]
    # The same request again is the first answer, not a second snow day for each school.
    again = client.post("/api/trusts/sendat/announcements", json=trust_closure(), headers=key)
    assert again.status_code == 200 and again.json() == answer
    other = {**trust_closure(), "variables": {**CLOSURE_VARS, "reason": "no heating"}}
    assert (
        client.post("/api/trusts/sendat/announcements", json=other, headers=key).status_code == 409
    )
    assert len(stored(runtime)) == 2


def test_a_trust_wide_dry_run_shows_each_member_school_and_stores_nothing(
    client: Any, runtime: Any
) -> None:
    for slug in ("sendat-a", "sendat-b"):
        import_roster(runtime, [row()], school=slug)
    every = bearer(runtime, "senior-everywhere")

    dry = client.post(
        "/api/trusts/sendat/announcements?dry_run=true", json=trust_closure(), headers=every
    )

    assert dry.status_code == 200
    plans = dry.json()["schools"]
    assert [p["school"] for p in plans] == ["sendat-a", "sendat-b"]
    assert all(p["recipients"] == 1 for p in plans)
    # Each member school's families read their own school's name.
    for plan, slug in zip(plans, ("sendat-a", "sendat-b"), strict=True):
        name = runtime.configuration.school(slug).name
        assert all(name in (s["sms"] or s["email_subject"] or "") for s in plan["samples"])
    assert stored(runtime) == []


def test_only_the_trusts_own_tokens_send_trust_wide(client: Any, runtime: Any) -> None:
    for slug in ("sendat-a", "sendat-b"):
        import_roster(runtime, [row()], school=slug)
    school_a = bearer(runtime, "senior-sendat-a", school="sendat-a")
    other_trust = bearer(runtime, "senior-outcomes", trust="outcomes-first-group")
    for headers in (school_a, other_trust):
        refused = client.post(
            "/api/trusts/sendat/announcements", json=trust_closure(), headers=headers
        )
        assert refused.status_code == 403
        assert refused.json()["detail"][0]["field"] == "path.trust"
    unknown = client.post(
        "/api/trusts/no-such-trust/announcements",
        json=trust_closure(),
        headers=bearer(runtime, "senior-everywhere"),
    )
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["field"] == "path.trust"
    with runtime.sessions() as session:
        _, secret = create_token(
            session,
            runtime.configuration,
            "office-sendat",
            "office",
            None,
            datetime.now(UTC),
            "sendat",
        )
    office = client.post(
        "/api/trusts/sendat/announcements",
        json=trust_closure(),
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert office.status_code == 403
    assert office.json()["detail"][0]["field"] == "body.category"
    assert stored(runtime) == []
