"""Two-person sign-off in a real Chromium: a senior's whole-school closure waits for a
second senior, who sees the preview in another browser context and approves it with a
fresh code; the requester cannot approve their own (no button, and a forged POST is
refused); a rejection needs a reason; break-glass is recorded loudly. axe-core on every
state reached."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from dispatcher.access.staff import StaffInfo
from dispatcher.config.sign_off import SignOffConfig
from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement, AuditEntry, StaffAccount
from dispatcher.triggers.announcements import AnnouncementRequest
from dispatcher.web.console.sign_off import ask_for_sign_off
from tests.browser.conftest import PASSWORD, ConsolePage
from tests.support.factories import CLOSURE_VARS

CLOSURE = AnnouncementRequest(
    school="demo", category="emergency_closure", audience=["school"], variables=CLOSURE_VARS
)


def enrolled(runtime: Runtime, account: StaffInfo) -> pyotp.TOTP:
    """Give ``account`` an authenticator secret (as if enrolled) and return its TOTP."""
    secret = pyotp.random_base32()
    with runtime.sessions() as session:
        row = session.get(StaffAccount, account.id)
        assert row is not None
        row.totp_secret = secret
        session.commit()
    return pyotp.TOTP(secret)


def sign_in_senior(page: ConsolePage, email: str, totp: pyotp.TOTP) -> str:
    """Sign in with the password and the current code; return the code used."""
    page.open("/sign-in")
    page.page.get_by_label("Email address").fill(email)
    page.page.get_by_label("Password").fill(PASSWORD)
    page.page.get_by_role("button", name="Continue").click()
    code = totp.now()
    page.page.get_by_label("Code").fill(code)
    page.page.get_by_role("button", name="Sign in").click()
    assert page.page.url == page.base_url + "/"
    return code


def ask(runtime: Runtime, account: StaffInfo) -> int:
    with runtime.sessions() as session:
        return ask_for_sign_off(runtime, session, CLOSURE, account, datetime.now(UTC))


def audit_actions(runtime: Runtime) -> list[tuple[str, str, int | None]]:
    with runtime.sessions() as session:
        return [
            (e.action, e.actor, e.announcement_id)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith(("sign_off.", "announcement."))
        ]


def test_a_second_senior_sees_the_preview_and_approves_with_a_fresh_code(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    head = staff("head@demo.example.org", "senior")
    deputy = staff("deputy@demo.example.org", "senior")
    head_totp, deputy_totp = enrolled(runtime, head), enrolled(runtime, deputy)
    request_id = ask(runtime, head)

    requester: ConsolePage = new_page(360, 740)
    sign_in_senior(requester, "head@demo.example.org", head_totp)
    requester.open(f"/sign-off/{request_id}")
    assert requester.page.get_by_text("Waiting for a second senior").first.is_visible()
    assert requester.page.get_by_role("button", name="Approve and send").count() == 0
    assert requester.page.get_by_role("button", name="Withdraw the request").is_visible()
    requester.check("requester-waiting-360px")

    approver: ConsolePage = new_page()
    signed_in_with = sign_in_senior(approver, "deputy@demo.example.org", deputy_totp)
    approver.open("/sign-off")
    approver.check("list-waiting")
    approver.page.get_by_role("link", name="Emergency closure").first.click()
    assert approver.page.url.endswith(f"/sign-off/{request_id}")
    preview = approver.page.locator(".console-preview").inner_text()
    assert "heavy snow" in preview
    approver.check("request-for-approver")

    approver.page.get_by_role("button", name="Approve and send").click()
    summary = approver.page.locator(".govuk-error-summary").inner_text()
    assert "Enter the 6-digit code" in summary
    approver.check("approve-without-code")
    # The code used to sign in cannot approve: a fresh one (the next step's) can.
    approver.page.get_by_label("Code from your authenticator app").fill(signed_in_with)
    approver.page.get_by_role("button", name="Approve and send").click()
    assert "already used" in approver.page.locator(".govuk-error-summary").inner_text()
    approver.page.get_by_label("Code from your authenticator app").fill(
        deputy_totp.at(time.time() + 30)
    )
    approver.page.get_by_role("button", name="Approve and send").click()
    assert approver.page.get_by_text("Approved and sent").first.is_visible()
    link = approver.page.get_by_role("link", name="Watch its progress")
    announcement_href = link.get_attribute("href")
    approver.check("approved")

    with runtime.sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        assert announcement.requested_by == head.name
        assert announcement.variables == CLOSURE_VARS
    assert announcement_href == f"/announcements/{announcement.id}"
    actions = audit_actions(runtime)
    assert ("sign_off.requested", head.name, None) in actions
    assert ("announcement.created", head.name, announcement.id) in actions
    assert ("sign_off.approved", deputy.name, announcement.id) in actions

    requester.open(f"/sign-off/{request_id}")
    assert requester.page.get_by_text("Approved and sent").first.is_visible()
    requester.check("requester-approved-360px")


def test_the_requester_cannot_approve_their_own_even_by_a_forged_post(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    head = staff("head@demo.example.org", "senior")
    staff("deputy@demo.example.org", "senior")
    head_totp = enrolled(runtime, head)
    request_id = ask(runtime, head)
    page: ConsolePage = new_page()
    sign_in_senior(page, "head@demo.example.org", head_totp)
    page.open(f"/sign-off/{request_id}")
    assert page.page.get_by_role("button", name="Approve and send").count() == 0
    page.open("/sign-off")
    assert page.page.get_by_text("Nothing is waiting for your decision").is_visible()
    page.check("list-own-request")
    page.open(f"/sign-off/{request_id}")
    csrf = page.page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = page.page.request.post(
        f"{page.base_url}/sign-off/{request_id}/approve",
        form={"csrf_token": csrf or "", "code": head_totp.at(time.time() + 30)},
    )
    assert forged.status == 403
    assert "someone else must approve it" in forged.text()
    with runtime.sessions() as session:
        assert session.scalars(select(Announcement)).all() == []
    page.open("/sign-off/99999")
    assert page.page.get_by_role("heading", name="Page not found").is_visible()
    page.check("unknown-request")
    for path in ("/sign-off/abc", "/sign-off/-1", "/sign-off/" + "9" * 40):
        assert page.page.request.get(page.base_url + path).status == 404
    unknown = page.page.request.post(
        f"{page.base_url}/sign-off/nope/approve", form={"csrf_token": csrf or ""}
    )
    assert unknown.status == 404 and "Page not found" in unknown.text()
    no_token = page.page.request.post(f"{page.base_url}/sign-off/{request_id}/withdraw")
    assert no_token.status == 403 and "This form has expired" in no_token.text()
    page.open(f"/sign-off/{request_id}")
    page.page.get_by_role("button", name="Withdraw the request").click()
    assert page.page.get_by_text("Withdrawn: not sent").first.is_visible()
    page.check("withdrawn")
    again = page.page.request.post(
        f"{page.base_url}/sign-off/{request_id}/withdraw", form={"csrf_token": csrf or ""}
    )
    assert again.status == 409 and "already been decided" in again.text()


def test_a_rejection_needs_a_reason_which_the_requester_then_reads(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    head = staff("head@demo.example.org", "senior")
    deputy = staff("deputy@demo.example.org", "admin")
    head_totp, deputy_totp = enrolled(runtime, head), enrolled(runtime, deputy)
    request_id = ask(runtime, head)
    approver: ConsolePage = new_page()
    sign_in_senior(approver, "deputy@demo.example.org", deputy_totp)
    approver.open(f"/sign-off/{request_id}")
    approver.page.get_by_role("button", name="Reject").click()
    assert "Enter the reason" in approver.page.locator(".govuk-error-summary").inner_text()
    approver.check("reject-without-reason")
    approver.page.get_by_role("link", name="Enter the reason for rejecting it").click()
    assert approver.page.evaluate("document.activeElement.id") == "reason"
    approver.page.get_by_label("Reason for rejecting it").fill("x" * 501)
    approver.page.get_by_role("button", name="Reject").click()
    assert "500 characters or fewer" in approver.page.locator("#reason-error").inner_text()
    approver.page.get_by_label("Reason for rejecting it").fill("The heating is fixed: stay open")
    approver.page.get_by_role("button", name="Reject").click()
    assert approver.page.get_by_text("Rejected: not sent").first.is_visible()
    approver.check("rejected")

    requester: ConsolePage = new_page()
    sign_in_senior(requester, "head@demo.example.org", head_totp)
    requester.open("/sign-off")
    assert requester.page.get_by_text("Rejected: not sent").is_visible()
    requester.open(f"/sign-off/{request_id}")
    assert requester.page.get_by_text("The heating is fixed: stay open").is_visible()
    with runtime.sessions() as session:
        assert session.scalars(select(Announcement)).all() == []
    assert ("sign_off.rejected", deputy.name, None) in audit_actions(runtime)


def test_break_glass_after_the_schools_delay_is_recorded_loudly(
    new_page: Any,
    staff: Any,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    school = runtime.configuration.schools["demo"]
    monkeypatch.setitem(
        runtime.configuration.schools,
        "demo",
        school.model_copy(update={"sign_off": SignOffConfig(break_glass_after_minutes=0)}),
    )
    head = staff("head@demo.example.org", "senior")
    head_totp = enrolled(runtime, head)
    request_id = ask(runtime, head)
    page: ConsolePage = new_page()
    sign_in_senior(page, "head@demo.example.org", head_totp)
    page.open(f"/sign-off/{request_id}")
    page.check("break-glass-open")
    caplog.set_level(logging.WARNING)
    page.page.get_by_role("button", name="Send without sign-off").click()
    assert page.page.get_by_text("Sent without sign-off (break-glass)").first.is_visible()
    page.check("broke-glass")
    with runtime.sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
    assert ("sign_off.break_glass", head.name, announcement.id) in audit_actions(runtime)
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert alerts and "break-glass" in alerts[0]
    assert "head@demo.example.org" not in caplog.text
