"""The announcement pages over HTTP without a browser: bad input gets the form back naming
the field (never a 5xx), a POST without its CSRF token changes nothing, the progress JSON
needs a session, and odd ids are a 404 page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dispatcher.access.staff import create_staff
from dispatcher.runtime import Runtime
from dispatcher.store.models import CallLog
from tests.support.calls import two_families_nobody_can_message

PASSWORD = "correct horse battery staple"


@pytest.fixture
def office(app: FastAPI, runtime: Runtime, clean_redis: Any) -> Iterator[TestClient]:
    """A client signed in as an office account of the demo school (over https)."""
    with runtime.sessions() as db:
        create_staff(
            db,
            runtime.configuration,
            "office@demo.example.org",
            "office",
            PASSWORD,
            datetime.now(UTC),
            school="demo",
        )
    with TestClient(app, base_url="https://testserver") as client:
        form = client.get("/sign-in")
        signed_in = client.post(
            "/sign-in",
            data={
                "csrf_token": csrf_of(form.text),
                "email": "office@demo.example.org",
                "password": PASSWORD,
            },
        )
        assert signed_in.status_code == 200 and "Home" in signed_in.text
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def calls(runtime: Runtime) -> int:
    with runtime.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(CallLog)) or 0)


def test_bad_call_forms_come_back_naming_the_field(office: TestClient, runtime: Runtime) -> None:
    announcement_id = two_families_nobody_can_message(runtime)
    page = office.get(f"/announcements/{announcement_id}/not-reached")
    assert page.status_code == 200 and "2 families to phone" in page.text
    token = csrf_of(page.text)
    url = f"/announcements/{announcement_id}/not-reached/calls"
    base = {"csrf_token": token, "family": "student:SA", "student": "SA", "contact": "A1"}

    refused = office.post(url, data={**base, "csrf_token": "", "outcome": "reached"})
    assert refused.status_code == 403 and "This form has expired" in refused.text

    for fields, message in [
        ({"outcome": "bogus"}, "Select what happened when you phoned"),
        ({"outcome": "reached", "note": "x" * 501}, "The note must be 500 characters or fewer"),
        ({"outcome": "reached", "contact": "NOBODY"}, "Select who you phoned"),
        ({"outcome": "reached", "note": "bad\x00"}, "The note must not contain"),
        ({"outcome": "reached", "student": "SB"}, "Select who you phoned"),
    ]:
        answer = office.post(url, data={**base, **fields})
        assert answer.status_code == 400, fields
        assert "There is a problem" in answer.text and message in answer.text, fields
        assert 'href="#family-' in answer.text
    typed = office.post(url, data={**base, "outcome": "", "note": "call after <10>"})
    assert "call after &lt;10&gt;</textarea>" in typed.text
    assert calls(runtime) == 0

    logged = office.post(url, data={**base, "outcome": "reached"}, follow_redirects=False)
    assert logged.status_code == 303 and calls(runtime) == 1
    after = office.get(f"/announcements/{announcement_id}/not-reached")
    assert "1 family to phone" in after.text


def test_the_progress_json_needs_a_session_and_odd_ids_are_not_found(
    office: TestClient, app: FastAPI, runtime: Runtime
) -> None:
    announcement_id = two_families_nobody_can_message(runtime)
    progress = office.get(f"/announcements/{announcement_id}/progress.json")
    assert progress.status_code == 200
    assert progress.headers["cache-control"] == "no-store"
    body = progress.json()
    assert body["announcement_id"] == announcement_id
    assert {"percent", "percent_words", "channels", "milestone", "finished"} <= set(body)
    with TestClient(app, base_url="https://testserver") as stranger:
        signed_out = stranger.get(f"/announcements/{announcement_id}/progress.json")
        assert signed_out.status_code == 401
        page = stranger.get(f"/announcements/{announcement_id}", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/sign-in")
    for odd in ["0", "99999999999999999999999", "1e3", "%C2%B2", "%20"]:
        answer = office.get(f"/announcements/{odd}")
        assert answer.status_code == 404 and "Page not found" in answer.text, odd
    token = csrf_of(office.get(f"/announcements/{announcement_id}").text)
    missing = office.post("/announcements/424242/cancel", data={"csrf_token": token})
    assert missing.status_code == 404
    refused = office.post(f"/announcements/{announcement_id}/cancel", data={"csrf_token": token})
    assert refused.status_code == 403 and "your account is an office account" in refused.text


def test_a_long_list_shows_the_first_families_and_says_where_the_rest_are(
    office: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher.web.console import not_reached

    monkeypatch.setattr(not_reached, "FAMILIES_ON_THE_PAGE", 1)
    announcement_id = two_families_nobody_can_message(runtime)
    page = office.get(f"/announcements/{announcement_id}/not-reached")
    assert "2 families to phone" in page.text
    assert page.text.count("data-family=") == 1
    assert "The first 1 are below" in page.text and "have all 2" in page.text
    printed = office.get(f"/announcements/{announcement_id}/not-reached/print")
    csv_rows = office.get(f"/announcements/{announcement_id}/not-reached.csv").text.splitlines()
    assert "2 families" in printed.text
    assert len(csv_rows) == 1 + 2  # the header and every family
