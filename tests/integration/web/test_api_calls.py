"""The office's call log through the REST API (decision 0084): any token of the
announcement's school may log a call (its name recorded as who phoned) and list them; bad
fields are 422 naming them; another school's token is refused. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from dispatcher.access.tokens import create_token
from dispatcher.store.models import CallLog
from tests.support.calls import two_families_nobody_can_message


def test_calls_through_the_api_keep_to_the_tokens_school(client: Any, runtime: Any) -> None:
    announcement_id = two_families_nobody_can_message(runtime)

    def bearer(name: str, school: str) -> dict[str, str]:
        with runtime.sessions() as session:
            _, secret = create_token(
                session, runtime.configuration, name, "office", school, datetime.now(UTC)
            )
        return {"Authorization": f"Bearer {secret}"}

    office = bearer("office-demo", "demo")
    path = f"/api/announcements/{announcement_id}/calls"
    logged = client.post(
        path, json={"contact_id": "B1", "outcome": "reached", "note": "ok"}, headers=office
    )
    assert logged.status_code == 201, logged.text
    assert logged.json()["called_by"] == "office-demo"
    assert logged.json()["student_id"] == "SB"
    assert [c["outcome"] for c in client.get(path, headers=office).json()["calls"]] == ["reached"]

    bad = client.post(path, json={"contact_id": "B1", "outcome": "busy"}, headers=office)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.outcome"
    unknown = client.post(path, json={"contact_id": "ZZ", "outcome": "reached"}, headers=office)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "body.contact_id"
    elsewhere = bearer("office-brockmoor", "brockmoor")
    refused = client.post(path, json={"contact_id": "B1", "outcome": "reached"}, headers=elsewhere)
    assert refused.status_code == 403
    assert client.get(path, headers=elsewhere).status_code == 403
    assert client.get("/api/announcements/999999/calls", headers=office).status_code == 404
    with runtime.sessions() as session:
        assert len(session.scalars(select(CallLog)).all()) == 1
