"""The accounts pages over HTTP without a browser: no input gives a 5xx, every refusal is
a page in plain words, and a form without its CSRF token changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dispatcher.access.staff import StaffInfo, create_staff
from dispatcher.runtime import Runtime
from dispatcher.store.models import StaffAccount

PASSWORD = "correct horse battery staple"


def make(runtime: Runtime, email: str, role: str, school: str = "demo") -> StaffInfo:
    with runtime.sessions() as session:
        return create_staff(session, runtime.configuration, email, role, PASSWORD,
                            datetime.now(UTC), school=school)  # fmt: skip


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
def admin(app: FastAPI, runtime: Runtime, clean_redis: Any) -> TestClient:
    """A client signed in as an admin of the demo school (over https: Secure cookies)."""
    account = make(runtime, "admin@demo.example.org", "admin")
    secret = pyotp.random_base32()
    with runtime.sessions() as session:
        row = session.get(StaffAccount, account.id)
        assert row is not None
        row.totp_secret = secret
        session.commit()
    client = TestClient(app, base_url="https://testserver")
    token = csrf(client.get("/sign-in").text)
    client.post("/sign-in", data={"csrf_token": token, "email": account.email,
                                  "password": PASSWORD})  # fmt: skip
    token = csrf(client.get("/sign-in/code").text)
    done = client.post("/sign-in/code", data={"csrf_token": token,
                                              "code": pyotp.TOTP(secret).now()})  # fmt: skip
    assert done.url.path == "/"
    return client


def accounts_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(StaffAccount)) or 0)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "email"),
        ({"email": "x" * 5000, "role": "office", "scope": "school:demo", "password": PASSWORD},
         "email"),
        ({"email": "a@demo.example.org", "role": "root", "scope": "school:demo",
          "password": PASSWORD}, "role"),
        ({"email": "a@demo.example.org", "role": "office", "scope": "all", "password": PASSWORD},
         "scope"),
        ({"email": "a@demo.example.org", "role": "office", "scope": "school:demo",
          "password": PASSWORD, "phone": "+" + "9" * 300}, "phone"),
        ({"email": "a@demo.example.org", "role": "office", "scope": "school:demo",
          "password": "\x00" * 20}, "password"),
        ({"email": "admin@demo.example.org", "role": "office", "scope": "school:demo",
          "password": PASSWORD}, "email"),
    ],
)  # fmt: skip
def test_bad_create_input_returns_the_form_naming_the_field(
    admin: TestClient, runtime: Runtime, fields: dict[str, str], named: str
) -> None:
    token = csrf(admin.get("/accounts/new").text)
    before = accounts_count(runtime)
    answer = admin.post("/accounts/new", data={"csrf_token": token, **fields})
    assert answer.status_code == 400, answer.text
    assert f'href="#{named}"' in answer.text and f'id="{named}-error"' in answer.text
    assert accounts_count(runtime) == before


def test_unknown_ids_and_actions_are_404_pages_and_no_csrf_changes_nothing(
    admin: TestClient, runtime: Runtime
) -> None:
    jo = make(runtime, "jo@demo.example.org", "office")
    for path in ("/accounts/0", "/accounts/-1", "/accounts/1e3", "/accounts/%00",
                 f"/accounts/{'9' * 30}", "/accounts/99999/password"):  # fmt: skip
        answer = admin.get(path)
        assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], path
    token = csrf(admin.get("/accounts").text)
    unknown = admin.post(f"/accounts/{jo.id}/delete", data={"csrf_token": token})
    assert unknown.status_code == 404 and "Page not found" in unknown.text
    forged = admin.post(f"/accounts/{jo.id}/disable", data={})
    assert forged.status_code == 403 and "This form has expired" in forged.text
    empty = admin.post(f"/accounts/{jo.id}/password", data={"csrf_token": token})
    assert empty.status_code == 400 and 'href="#password"' in empty.text
    with runtime.sessions() as session:
        row = session.get(StaffAccount, jo.id)
        assert row is not None and row.disabled_at is None


def test_a_visitor_is_sent_to_sign_in(client: TestClient, clean_redis: Any) -> None:
    for path in ("/accounts", "/accounts/new", "/accounts/1"):
        answer = client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
