"""The console over HTTP without a browser: what a visitor without a session gets, the
headers on the API too, the documentation pages' exemption from the policy, and the
trust staff's schools."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from dispatcher.access.staff import StaffInfo
from dispatcher.runtime import Runtime
from dispatcher.web.console.home import schools_of


def test_a_visitor_is_sent_to_sign_in_and_a_post_without_a_session_is_refused(
    client: TestClient, clean_redis: Any
) -> None:
    home = client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/sign-in")
    form = client.get("/sign-in")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    assert form.headers["cache-control"] == "no-store"
    fresh = TestClient(client.app)
    refused = fresh.post("/sign-in", data={"email": "a@b.org", "password": "x" * 12})
    assert refused.status_code == 403 and "This form has expired" in refused.text
    assert "text/html" in refused.headers["content-type"]


def test_every_response_has_the_headers_and_the_docs_keep_their_inline_scripts(
    client: TestClient,
) -> None:
    api = client.get("/healthz")
    assert "default-src 'self'" in api.headers["content-security-policy"]
    assert api.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console-assets/govuk/govuk-frontend.min.css").status_code == 200
    css = client.get("/console-assets/govuk/govuk-frontend.min.css").text
    assert "GDS Transport" not in css and "system-ui" in css


def test_trust_staff_see_their_member_schools_and_school_staff_their_own(
    runtime: Runtime,
) -> None:
    from datetime import UTC, datetime

    from dispatcher.access.roles import Role

    def account(school: str | None, trust: str | None) -> StaffInfo:
        now = datetime.now(UTC)
        return StaffInfo(1, "a@b.org", Role.SENIOR, school, trust, True, now, None, None)

    members = sorted(s for s, c in runtime.configuration.schools.items() if c.trust == "sendat")
    assert members and schools_of(runtime, account(None, "sendat")) == members
    assert schools_of(runtime, account("demo", None)) == ["demo"]
    assert schools_of(runtime, account(None, None)) == sorted(runtime.configuration.schools)
