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
