"""Account management in a real Chromium: an admin creates, disables, enables, unlocks,
gives a new password and clears the authenticator app of accounts within their scope, and
the people concerned notice; an office account and an admin of another school cannot.
Also the home page's next calendar reminders. axe-core on every page state reached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyotp
from sqlalchemy import select

from dispatcher.config.calendars import load_calendars
from dispatcher.config.reminders import load_reminder_settings
from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, StaffAccount
from dispatcher.triggers.reminders.clock import school_schedule
from tests.browser.conftest import PASSWORD, ConsolePage
from tests.browser.test_console import REFUSED, sign_in

NEW_PASSWORD = "a brand new passphrase for jo"


def with_authenticator(runtime: Runtime, account_id: int) -> pyotp.TOTP:
    """Give the account an enrolled authenticator app; return the app."""
    secret = pyotp.random_base32()
    with runtime.sessions() as session:
        row = session.get(StaffAccount, account_id)
        assert row is not None
        row.totp_secret = secret
        session.commit()
    return pyotp.TOTP(secret)


def sign_in_with_code(page: ConsolePage, email: str, app: pyotp.TOTP) -> None:
    sign_in(page, email)
    assert page.page.url.endswith("/sign-in/code")
    page.page.get_by_label("Code").fill(app.now())
    page.page.get_by_role("button", name="Sign in").click()
    assert page.page.url == page.base_url + "/"


def admin_page(new_page: Any, staff: Any, runtime: Runtime, school: str = "demo") -> ConsolePage:
    """A page signed in as an admin of ``school``."""
    admin = staff(f"admin@{school}.example.org", "admin", school=school)
    page: ConsolePage = new_page()
    sign_in_with_code(page, admin.email, with_authenticator(runtime, admin.id))
    return page


def open_account(page: ConsolePage, email: str) -> None:
    page.page.get_by_role("link", name="Accounts").click()
    page.page.get_by_role("link", name=f"Manage {email}").click()
    assert page.page.get_by_role("heading", name=email, level=1).is_visible()


def audit_actions(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry))]


def test_an_admin_creates_an_office_account_and_the_new_person_signs_in(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    page = admin_page(new_page, staff, runtime)
    page.page.get_by_role("link", name="Accounts").click()
    assert page.page.get_by_role("heading", name="Accounts", level=1).is_visible()
    page.check("accounts-list")
    page.page.get_by_role("button", name="Create an account").click()
    page.check("create-form")
    page.page.get_by_label("Work email address").fill("not an email")
    page.page.get_by_label("Mobile number (optional)").fill("01632 960000")  # a landline
    page.page.get_by_role("button", name="Create the account").click()
    summary = page.page.locator(".govuk-error-summary").inner_text()
    assert "Choose a role" in summary and "Enter a first password" in summary
    page.check("create-form-errors")
    page.page.get_by_role("link", name="Choose a role").click()
    assert page.page.evaluate("document.activeElement.id") == "role"

    page.page.get_by_label("Work email address").fill("Jo.Office@demo.example.org")
    page.page.get_by_label("Office").check()
    page.page.get_by_label("First password").fill(PASSWORD)
    page.page.get_by_role("button", name="Create the account").click()
    assert (
        "mobile number like 07700 900123" in page.page.locator(".govuk-error-summary").inner_text()
    )
    page.check("create-form-bad-phone")
    page.page.get_by_label("Mobile number (optional)").fill("07700 900123")
    page.page.get_by_label("First password").fill(PASSWORD)
    page.page.get_by_role("button", name="Create the account").click()
    assert page.page.get_by_text("Account created.").is_visible()
    assert page.page.get_by_text("07700 900123").is_visible()
    page.check("account-created")

    person: ConsolePage = new_page(width=360, height=740)
    sign_in(person, "jo.office@demo.example.org")
    assert person.page.url == person.base_url + "/"
    assert person.page.get_by_role("link", name="Accounts").count() == 0
    with runtime.sessions() as session:
        created = session.scalars(
            select(StaffAccount).where(StaffAccount.email == "jo.office@demo.example.org")
        ).one()
        assert created.phone == "+447700900123" and created.role == "office"
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff_account_created")
        ).all()[-1]
    assert entry.actor.startswith("staff:") and entry.actor != f"staff:{created.id}"
    assert entry.detail["email"] == "j***@demo.example.org"


def test_a_disabled_account_is_signed_out_at_its_next_click_and_cannot_sign_in(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    staff("jo@demo.example.org", "office")
    person: ConsolePage = new_page()
    sign_in(person, "jo@demo.example.org")
    assert person.page.url == person.base_url + "/"

    page = admin_page(new_page, staff, runtime)
    open_account(page, "jo@demo.example.org")
    page.page.get_by_role("button", name="Disable the account").click()
    assert page.page.get_by_text("Account disabled.").is_visible()
    assert page.page.locator(".govuk-tag").inner_text() == "Disabled"
    page.check("account-disabled")

    person.page.get_by_role("link", name="Home").click()
    assert person.page.url.endswith("/sign-in")
    sign_in(person, "jo@demo.example.org")
    assert REFUSED in person.page.locator(".govuk-error-summary").inner_text()

    page.page.get_by_role("button", name="Enable the account").click()
    assert page.page.get_by_text("Account enabled.").is_visible()
    sign_in(person, "jo@demo.example.org")
    assert person.page.url == person.base_url + "/"
    actions = [action for _, action in audit_actions(runtime)]
    assert "staff_account_disabled" in actions and "staff_account_enabled" in actions


def test_an_admin_cannot_disable_their_own_account(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    page = admin_page(new_page, staff, runtime)
    open_account(page, "admin@demo.example.org")
    assert page.page.get_by_role("button", name="Disable the account").count() == 0
    token = page.page.locator("input[name=csrf_token]").first.get_attribute("value")
    own_id = page.page.url.rsplit("/", 1)[-1]
    response = page.page.request.post(
        f"{page.base_url}/accounts/{own_id}/disable", form={"csrf_token": token or ""}
    )
    assert response.status == 403
    assert "cannot disable your own account" in response.text()


def test_a_new_password_works_and_unlocks_a_locked_account(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    staff("jo@demo.example.org", "office")
    person: ConsolePage = new_page()
    for attempt in range(5):
        sign_in(person, "jo@demo.example.org", f"a wrong guess number {attempt}")

    page = admin_page(new_page, staff, runtime)
    open_account(page, "jo@demo.example.org")
    assert page.page.locator(".govuk-tag").inner_text().startswith("Locked until")
    page.check("account-locked")
    page.page.get_by_role("link", name="Give it a new password").click()
    page.page.get_by_label("New password").fill("password")
    page.page.get_by_role("button", name="Change the password").click()
    assert "Enter a stronger password" in page.page.locator(".govuk-error-summary").inner_text()
    page.check("new-password-too-weak")
    page.page.get_by_label("New password").fill(NEW_PASSWORD)
    page.page.get_by_role("button", name="Change the password").click()
    assert page.page.get_by_text("Password changed.").is_visible()
    assert page.page.locator(".govuk-tag").inner_text() == "Active"

    sign_in(person, "jo@demo.example.org")  # the old password
    assert REFUSED in person.page.locator(".govuk-error-summary").inner_text()
    sign_in(person, "jo@demo.example.org", NEW_PASSWORD)
    assert person.page.url == person.base_url + "/"


def test_an_admin_unlocks_an_account(new_page: Any, staff: Any, runtime: Runtime) -> None:
    staff("jo@demo.example.org", "office")
    person: ConsolePage = new_page()
    for attempt in range(5):
        sign_in(person, "jo@demo.example.org", f"a wrong guess number {attempt}")
    page = admin_page(new_page, staff, runtime)
    open_account(page, "jo@demo.example.org")
    page.page.get_by_role("button", name="Unlock it now").click()
    assert page.page.get_by_text("Account unlocked.").is_visible()
    page.check("account-unlocked")
    sign_in(person, "jo@demo.example.org")
    assert person.page.url == person.base_url + "/"


def test_clearing_the_second_factor_makes_a_senior_set_up_the_app_again(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    senior = staff("head@demo.example.org", "senior")
    app = with_authenticator(runtime, senior.id)
    person: ConsolePage = new_page()
    sign_in_with_code(person, senior.email, app)
    person.page.get_by_role("button", name="Sign out").click()

    page = admin_page(new_page, staff, runtime)
    open_account(page, senior.email)
    assert page.page.get_by_text("Authenticator app set up").is_visible()
    page.page.get_by_role("button", name="Clear the authenticator app").click()
    assert page.page.get_by_text("Authenticator app cleared.").is_visible()
    assert page.page.get_by_text("Sets up an authenticator app at the next sign-in").is_visible()
    page.check("second-factor-cleared")

    sign_in(person, senior.email)
    assert person.page.url.endswith("/sign-in/set-up-app")
    assert ("staff:" + str(senior.id), "staff_second_factor_cleared") not in audit_actions(
        runtime
    )  # the admin did it, not the senior
    assert any(action == "staff_second_factor_cleared" for _, action in audit_actions(runtime))


def test_an_office_account_is_refused_the_accounts_pages(new_page: Any, staff: Any) -> None:
    staff("jo@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "jo@demo.example.org")
    response = page.page.goto(page.base_url + "/accounts")
    assert response is not None and response.status == 403
    assert page.page.get_by_role("heading", name="You cannot manage accounts").is_visible()
    assert page.page.get_by_text("Your account has the office role").is_visible()
    page.check("accounts-refused")
    response = page.page.goto(page.base_url + "/accounts/new")
    assert response is not None and response.status == 403


def test_an_admin_of_one_school_cannot_see_or_change_another_schools_accounts(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    other = staff("office@brockmoor.example.org", "office", school="brockmoor")
    staff("jo@demo.example.org", "office")
    page = admin_page(new_page, staff, runtime)
    page.page.get_by_role("link", name="Accounts").click()
    listed = page.page.locator(".console-accounts__email").all_inner_texts()
    assert "jo@demo.example.org" in listed and other.email not in listed
    page.check("accounts-list-own-school")
    response = page.page.goto(f"{page.base_url}/accounts/{other.id}")
    assert response is not None and response.status == 403
    assert page.page.get_by_text("You can manage only the accounts of school demo").is_visible()
    page.check("other-school-refused")
    page.open("/accounts/new")
    options = page.page.locator("#scope option").all_inner_texts()
    assert options == [runtime.configuration.schools["demo"].name]
    token = page.page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    response_post = page.page.request.post(
        f"{page.base_url}/accounts/{other.id}/disable", form={"csrf_token": token}
    )
    assert response_post.status == 403
    forged = page.page.request.post(
        f"{page.base_url}/accounts/new",
        form={
            "csrf_token": token,
            "email": "sneaky@brockmoor.example.org",
            "role": "admin",
            "scope": "school:brockmoor",
            "password": PASSWORD,
        },
    )
    assert forged.status == 400 and "Choose where the account acts" in forged.text()
    for unknown in ("999999", "abc", "9" * 40):
        missing = page.page.goto(f"{page.base_url}/accounts/{unknown}")
        assert missing is not None and missing.status == 404
    page.check("account-not-found")
    with runtime.sessions() as session:
        row = session.get(StaffAccount, other.id)
        assert row is not None and row.disabled_at is None
        assert (
            session.scalars(
                select(StaffAccount).where(StaffAccount.email == "sneaky@brockmoor.example.org")
            ).all()
            == []
        )


def test_the_home_page_shows_the_next_calendar_reminders(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    config_dir = runtime.settings.config_dir
    calendar = load_calendars(config_dir, runtime.configuration)["demo"]
    schedule = school_schedule(runtime, calendar, load_reminder_settings(config_dir))
    first = next(r for r in schedule.reminders if r.due_at >= datetime.now(UTC))
    staff("jo@demo.example.org", "office")
    page: ConsolePage = new_page(width=360, height=740)
    sign_in(page, "jo@demo.example.org")
    assert page.page.get_by_role("heading", name="Next reminders").is_visible()
    shown = page.page.locator(".console-reminder")
    assert 1 <= shown.count() <= 5
    first_text = shown.first.inner_text()
    assert first.variables.get("event", first.title) in first_text
    assert f"{first.due_at.astimezone(first.tz):%A}" in first_text
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    page.check("home-next-reminders")
