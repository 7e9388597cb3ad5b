"""The staff console in a real Chromium: sign-in, lockout, the second factor, CSRF, the
home page, headers, accessibility (axe-core on every page reached), keyboard and 360 px."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, StaffAccount
from tests.browser.conftest import PASSWORD, ConsolePage
from tests.support.factories import create

REFUSED = "Enter the email address and password of your account"
NEWS = {"title": "News", "url": "https://news.example.org/n"}


def sign_in(page: ConsolePage, email: str, password: str = PASSWORD) -> None:
    page.open("/sign-in")
    page.page.get_by_label("Email address").fill(email)
    page.page.get_by_label("Password").fill(password)
    page.page.get_by_role("button", name="Continue").click()


def test_an_office_user_signs_in_sees_the_home_page_and_signs_out(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    staff("office@demo.example.org", "office")
    announcement_id = create(runtime, category="newsletter", audience=["year:6"], variables=NEWS)
    page: ConsolePage = new_page()
    page.open("/")
    assert page.page.url.endswith("/sign-in")
    page.check("sign-in")
    sign_in(page, "Office@Demo.example.org")
    assert page.page.url == page.base_url + "/"
    assert page.page.get_by_role("heading", name="Home", level=1).is_visible()
    assert page.page.get_by_text(f"Announcement {announcement_id}").is_visible()
    assert page.page.get_by_text("Received: working out who gets it").is_visible()
    page.check("home")
    page.page.get_by_role("button", name="Sign out").click()
    assert page.page.get_by_role("heading", name="You have signed out").is_visible()
    page.check("signed-out")
    page.open("/")
    assert page.page.url.endswith("/sign-in")


def test_a_wrong_password_and_an_unknown_email_read_the_same(new_page: Any, staff: Any) -> None:
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org", "not the right password")
    wrong_password = page.page.locator(".govuk-error-summary").inner_text()
    assert REFUSED in wrong_password
    assert page.page.title().startswith("Error: ")
    page.check("wrong-password")
    sign_in(page, "nobody@demo.example.org", "not the right password")
    assert page.page.locator(".govuk-error-summary").inner_text() == wrong_password
    page.page.get_by_role("link", name=REFUSED).click()
    assert page.page.evaluate("document.activeElement.id") == "password"


def test_five_wrong_passwords_lock_the_account_which_the_log_and_audit_record(
    new_page: Any, staff: Any, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    account = staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    caplog.set_level(logging.INFO)
    for attempt in range(5):
        sign_in(page, "office@demo.example.org", f"wrong password number {attempt}")
        assert REFUSED in page.page.locator(".govuk-error-summary").inner_text()
    sign_in(page, "office@demo.example.org")  # the right password, while locked
    assert REFUSED in page.page.locator(".govuk-error-summary").inner_text()
    page.check("locked")
    with runtime.sessions() as session:
        row = session.get(StaffAccount, account.id)
        assert row is not None and row.locked_until is not None
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "staff_account_locked" in actions
    locked_lines = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    assert locked_lines and "o***@demo.example.org" in locked_lines[0]
    assert "office@demo.example.org" not in caplog.text


def test_a_senior_enrols_an_authenticator_then_signs_in_with_a_code(
    new_page: Any, staff: Any
) -> None:
    staff("head@demo.example.org", "senior")
    page: ConsolePage = new_page()
    sign_in(page, "head@demo.example.org")
    assert page.page.url.endswith("/sign-in/set-up-app")
    assert page.page.get_by_role("img", name="QR code to scan with your authenticator app")
    page.page.get_by_text("I cannot scan the QR code").click()
    secret = page.page.locator("#setup-key").inner_text().replace(" ", "")
    assert f"secret={secret}" in page.page.locator(".console-uri").inner_text()
    page.check("enrol")
    totp = pyotp.TOTP(secret)
    page.page.get_by_label("Code").fill("000000" if totp.now() != "000000" else "111111")
    page.page.get_by_role("button", name="Set up and sign in").click()
    assert "Enter the 6-digit code" in page.page.locator(".govuk-error-summary").inner_text()
    page.check("enrol-wrong-code")
    page.page.get_by_label("Code").fill(totp.now())
    page.page.get_by_role("button", name="Set up and sign in").click()
    assert page.page.url == page.base_url + "/"
    page.page.get_by_role("button", name="Sign out").click()

    sign_in(page, "head@demo.example.org")
    assert page.page.url.endswith("/sign-in/code")
    page.check("code")
    # The code of the next step: the one just used for enrolment signs in only once.
    page.page.get_by_label("Code").fill(totp.at(time.time() + 30))
    page.page.get_by_role("button", name="Sign in").click()
    assert page.page.url == page.base_url + "/"


def test_a_form_without_its_csrf_token_is_refused_with_a_page(new_page: Any, staff: Any) -> None:
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    page.open("/sign-in")
    page.page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.page.get_by_label("Email address").fill("office@demo.example.org")
    page.page.get_by_label("Password").fill(PASSWORD)
    with page.page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.page.get_by_role("button", name="Continue").click()
    assert posted.value.status == 403
    assert page.page.get_by_role("heading", name="This form has expired").is_visible()
    page.check("csrf-refused")
    page.open("/")
    assert page.page.url.endswith("/sign-in")  # not signed in


def test_every_page_says_what_it_may_load_and_cookies_are_guarded(
    new_page: Any, staff: Any
) -> None:
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    response = page.page.goto(page.base_url + "/sign-in")
    assert response is not None
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    sign_in(page, "office@demo.example.org")
    cookies = page.page.context.cookies()
    assert [c["name"] for c in cookies] == ["__Host-console-session"]
    assert cookies[0]["httpOnly"] and cookies[0]["secure"] and cookies[0]["sameSite"] == "Lax"
    # govuk-frontend's script (a file of this server: no inline script) has started.
    # (Polled from here: wait_for_function would evaluate a string, which the policy forbids.)
    started = "document.body.classList.contains('govuk-frontend-supported')"
    deadline = time.monotonic() + 5
    while not page.page.evaluate(started):
        assert time.monotonic() < deadline, "govuk-frontend's script did not start"
        page.page.wait_for_timeout(50)


def test_keyboard_only_sign_in_on_a_360_px_screen(new_page: Any, staff: Any) -> None:
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page(width=360, height=740)
    page.open("/sign-in")
    keyboard = page.page.keyboard
    keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.textContent") == "Skip to main content"
    for _ in range(10):
        if page.page.evaluate("document.activeElement.id") == "email":
            break
        keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.id") == "email"
    keyboard.type("office@demo.example.org")
    keyboard.press("Tab")
    keyboard.type(PASSWORD)
    keyboard.press("Enter")
    page.page.wait_for_url(page.base_url + "/")
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    page.check("home-360px")


def test_the_home_page_shows_held_messages_as_an_alert(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    from tests.support.factories import import_roster, plan, row

    import_roster(runtime, [row()])
    announcement_id = create(runtime, category="newsletter", audience=["school"], variables=NEWS)
    plan(runtime, announcement_id, datetime(2026, 12, 5, 22, 0, tzinfo=UTC))  # a Saturday night
    staff("head@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "head@demo.example.org")
    page.check("home-with-alerts")
    attention = page.page.locator(".govuk-warning-text").all_inner_texts()
    assert attention, "no alert shown"
