"""The compose flow over HTTP without a browser: whatever the query string or form says,
the answer is a page (400, 403 or 404 naming what to fix), never a 5xx; trust staff choose
the school first."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dispatcher.access.staff import create_staff
from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement
from tests.support.factories import import_roster, row

PASSWORD = "correct horse battery staple"


@pytest.fixture
def office(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, clean_redis: Any) -> Any:
    """Sign a client in as an office account (``school`` or ``trust``); return it."""
    monkeypatch.setenv("DISPATCHER_CONSOLE_SECURE_COOKIES", "false")
    runtime.settings.__dict__["console_secure_cookies"] = False
    import_roster(runtime, [row()])

    def sign_in(client: TestClient, school: str | None = "demo", trust: str | None = None) -> str:
        with runtime.sessions() as session:
            create_staff(
                session,
                runtime.configuration,
                "office@demo.example.org",
                "office",
                PASSWORD,
                datetime.now(UTC),
                school=school,
                trust=trust,
            )
        token = _csrf(client.get("/sign-in").text)
        signed = client.post(
            "/sign-in",
            data={"csrf_token": token, "email": "office@demo.example.org", "password": PASSWORD},
            follow_redirects=False,
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        return _csrf(client.get("/").text)

    return sign_in


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


NEWS = "school=demo&category=newsletter&audience=year:6"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/compose/category?school=nowhere", 404, "no such school"),
        ("/compose/category?school=westbourne", 403, "does not send for this school"),
        ("/compose/category", 400, "Choose the school"),
        ("/compose/audience?school=demo", 400, "Choose what it is about"),
        ("/compose/audience?school=demo&category=nope", 404, "no such school or category"),
        ("/compose/audience?school=demo&category=short_notice_change", 403, "urgent"),
        ("/compose/details?school=demo&category=newsletter", 400, "Choose who gets it"),
        ("/compose/details?school=demo&category=newsletter&audience=year:99", 400, "Choose"),
        ("/compose/details?school=demo&category=newsletter&audience=school", 403, "whole school"),
        (f"/compose/check?{NEWS}&var-title=T&var-url=javascript:alert(1)", 400, "https://"),
        (f"/compose/check?{NEWS}&var-url=https://x.example", 400, "Enter title"),
        (
            f"/compose/check?{NEWS}&var-title=T&var-url=https://x.example&when=later"
            "&send-date=31/12/2026&send-time=25:00",
            400,
            "Enter the date to send it",
        ),
        (f"/compose/audience?{NEWS}&q=%25%00%27%22", 200, "No student"),
        (
            f"/compose/check?{NEWS}&var-title=T%00ea&var-url=https://x.example",
            400,
            "Title must not contain control characters",
        ),
        ("/compose/details?school=demo&category=newsletter&audience=student:%00", 400, "Choose"),
        ("/compose/email?school=demo&category=newsletter&language=xx", 404, "Page not found"),
        ("/compose/email?school=demo&category=newsletter&language=en&format=bogus", 404, ""),
    ],
)
def test_bad_steps_get_a_page_that_says_what_to_fix(
    client: TestClient, office: Any, path: str, status: int, words: str
) -> None:
    office(client)
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == status, answer.text[:500]
    assert words in answer.text
    assert "Traceback" not in answer.text


def test_the_email_frame_has_its_own_policy_and_only_the_console_may_frame_it(
    client: TestClient, office: Any
) -> None:
    office(client)
    frame = client.get(
        "/compose/email?school=demo&category=newsletter&language=en&format=large_print"
        "&val-title=Winter+news&val-url=https://demo-primary.example/news"
    )
    assert frame.status_code == 200 and "Winter news" in frame.text
    assert "font-size:24px" in frame.text  # large print, styled inline
    policy = frame.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy and "frame-ancestors 'self'" in policy
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"


def test_a_send_without_its_details_or_token_stores_nothing(
    client: TestClient, office: Any, runtime: Runtime
) -> None:
    token = office(client)
    form = {"school": "demo", "category": "newsletter", "audience": "year:6", "when": "now"}
    missing = client.post("/compose/send", data={**form, "csrf_token": token})
    assert missing.status_code == 400 and "Enter title" in missing.text
    forged = client.post(
        "/compose/send", data={**form, "var-title": "T", "var-url": "https://x.example"}
    )
    assert forged.status_code == 403 and "This form has expired" in forged.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Announcement)) == 0


def test_trust_staff_choose_the_school_first(client: TestClient, office: Any) -> None:
    office(client, school=None, trust="sendat")
    first = client.get("/compose")
    assert first.status_code == 200 and "Which school is it for?" in first.text
    assert 'value="sendat-a"' in first.text
    chosen = client.get("/compose/category", follow_redirects=False)
    assert chosen.status_code == 400 and "Choose the school" in chosen.text
