"""Composing an announcement in a real Chromium: what office accounts may not send, a
senior's whole-school closure on a phone with the Polish and Urdu previews, errors that
name the field, the flow by keyboard alone, and a double-clicked send that sends once.
axe-core runs on every page state reached."""

from __future__ import annotations

import time
from typing import Any

import pyotp
from sqlalchemy import func, select

from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement, SignOffRequest
from tests.browser.conftest import ConsolePage
from tests.browser.test_console import sign_in
from tests.support.factories import import_roster, row

FAMILIES = [
    row(),
    row(
        student_id="S2",
        student_first_name="Jan",
        student_last_name="Kowalski",
        contact_id="C2",
        contact_first_name="Ewa",
        contact_last_name="Kowalska",
        mobile="07700 900002",
        email="ewa@example.com",
        language="pl",
    ),
    row(
        student_id="S3",
        student_first_name="Zara",
        student_last_name="Khan",
        year="5",
        **{"class": "5A"},
        contact_id="C3",
        contact_first_name="Amina",
        contact_last_name="Khan",
        mobile="07700 900003",
        email="amina@example.com",
        language="ur",
    ),
    row(
        student_id="S4",
        student_first_name="Tom",
        student_last_name="Hill",
        year="5",
        **{"class": "5A"},
        contact_id="C4",
        contact_first_name="Peter",
        contact_last_name="Hill",
        mobile="01632 960123",
        email="",
        needs="hearing_impaired",
    ),
]


def sign_in_senior(page: ConsolePage, email: str) -> None:
    """Sign in a senior for the first time: enrol the authenticator, enter its code."""
    sign_in(page, email)
    page.page.get_by_text("I cannot scan the QR code").click()
    secret = page.page.locator("#setup-key").inner_text().replace(" ", "")
    page.page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.page.get_by_role("button", name="Set up and sign in").click()
    page.page.wait_for_url(page.base_url + "/")


def wait_for_scripts(page: ConsolePage) -> None:
    """Wait until govuk-frontend's script has started (the tabs are then tabs). Polled from
    here: wait_for_function would evaluate a string, which the policy forbids."""
    started = "document.body.classList.contains('govuk-frontend-supported')"
    deadline = time.monotonic() + 5
    while not page.page.evaluate(started):
        assert time.monotonic() < deadline, "govuk-frontend's script did not start"
        page.page.wait_for_timeout(50)


def announcements(runtime: Runtime) -> list[Announcement]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Announcement).order_by(Announcement.id)))


def test_an_office_user_is_not_offered_emergencies_and_a_forged_send_is_refused(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, FAMILIES)
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")
    page.page.get_by_role("link", name="New announcement").click()
    assert page.page.get_by_role("heading", name="What is it about?").is_visible()
    assert page.page.get_by_label("Emergency closure").count() == 0
    assert "cannot send urgent messages (Emergency closure" in page.page.inner_text("#withheld")
    newsletter = page.page.locator(".govuk-radios__item", has_text="Newsletter")
    assert "Email, then app, then text message" in newsletter.inner_text()
    assert "Waits for school hours (08:00 to 19:00) on school days" in newsletter.inner_text()
    page.check("category-office")

    page.open("/compose/audience?school=demo&category=emergency_closure")
    assert page.page.get_by_role("heading", name="You cannot send this").is_visible()
    page.check("refused")

    page.open("/compose/audience?school=demo&category=newsletter")
    assert page.page.get_by_label("The whole school").count() == 0
    assert page.page.get_by_text("cannot send to the whole school").is_visible()
    page.check("audience-office")

    token = page.page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    forged: dict[str, str | float | bool] = {
        "csrf_token": token,
        "idempotency_key": "forged",
        "school": "demo",
        "category": "emergency_closure",
        "audience": "school",
        "var-date": "2026-12-09",
        "var-reason": "heavy snow",
        "when": "now",
    }
    response = page.page.request.post(page.base_url + "/compose/send", form=forged)
    assert response.status == 403
    assert "urgent messages need a senior" in response.text()
    assert announcements(runtime) == []


def test_a_senior_composes_a_whole_school_closure_on_a_phone_and_asks_for_sign_off(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, FAMILIES)
    head = staff("head@demo.example.org", "senior")
    page: ConsolePage = new_page(width=360, height=740)
    sign_in_senior(page, "head@demo.example.org")
    page.open("/compose")
    closure = page.page.locator(".govuk-radios__item", has_text="Emergency closure")
    assert "Text message, then app, then email; an email copy as back-up" in closure.inner_text()
    assert "Goes at once, day or night" in closure.inner_text()
    page.check("category")
    page.page.get_by_label("Emergency closure").check()
    page.page.get_by_role("button", name="Continue").click()

    page.check("audience")
    page.page.get_by_label("Find a student by name").fill("khan")
    page.page.get_by_role("button", name="Search").click()
    assert page.page.get_by_label("Zara Khan").is_visible()
    page.check("audience-search")
    page.page.get_by_label("The whole school").check()
    page.page.get_by_role("button", name="Continue").click()

    assert page.page.get_by_label("Date", exact=True).get_attribute("type") == "date"
    page.check("details")
    page.page.get_by_label("Date", exact=True).fill("2026-12-09")
    page.page.get_by_label("Reason").fill("heavy snow")
    page.page.get_by_role("button", name="Check before sending").click()

    assert page.page.get_by_role("heading", name="Check before sending").is_visible()
    assert page.page.inner_text("#preview-families") == "3"
    polish = page.page.locator("#preview-pl")
    assert "Szkoła zamknięta: Wednesday 9 December. Powód: heavy snow." in polish.inner_text()
    urdu = page.page.locator("#preview-ur")
    assert "اسکول Wednesday 9 December کو بند رہے گا" in urdu.inner_text()
    assert "Unicode (UCS-2)" in urdu.inner_text()
    assert "Standard characters (GSM-7)" in page.page.locator("#preview-en").inner_text()
    frame = page.page.locator("#preview-en iframe").first
    assert frame.get_attribute("sandbox") == "allow-same-origin"  # no scripts (decision 0087)
    email = page.page.frame_locator("#preview-en iframe").first
    assert (
        "is closed on Wednesday 9 December because of heavy snow"
        in email.locator("body").inner_text()
    )
    family = page.page.locator(".console-preview__family")
    assert family.count() == 1
    assert "Peter Hill, for Tom Hill" in family.inner_text()
    assert "do not phone" in family.inner_text()
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    page.check("check")

    # A whole-school emergency waits for a second senior (decision 0088): the exact request
    # is kept for them, and nothing is sent yet.
    page.page.get_by_role("button", name="Send now").click()
    page.page.wait_for_url("**/sign-off/*")
    assert announcements(runtime) == []
    with runtime.sessions() as session:
        [asked] = session.scalars(select(SignOffRequest)).all()
    assert page.page.url.endswith(f"/sign-off/{asked.id}")
    assert asked.requested_by_id == head.id
    assert asked.request["trigger"] == "console"
    assert asked.request["audience"] == ["school"]
    assert asked.request["variables"] == {"date": "Wednesday 9 December", "reason": "heavy snow"}


def test_a_missing_detail_and_an_http_link_are_named_on_the_details_page(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, FAMILIES)
    staff("head@demo.example.org", "senior")
    page: ConsolePage = new_page()
    sign_in_senior(page, "head@demo.example.org")
    page.open(
        "/compose/details?school=demo&category=emergency_closure&audience=year:6&audience=year:5"
    )
    page.page.get_by_label("Date", exact=True).fill("2026-12-09")
    page.page.get_by_label("Link to more details (optional)").fill("http://demo.example/snow")
    page.page.get_by_role("button", name="Check before sending").click()
    summary = page.page.locator(".govuk-error-summary").inner_text()
    assert "Enter reason" in summary
    assert "Link to more details must start with https://" in summary
    assert page.page.title().startswith("Error: ")
    page.check("details-errors")
    page.page.get_by_role("link", name="Enter reason").click()
    assert page.page.evaluate("document.activeElement.id") == "var-reason"
    assert page.page.get_by_label("Date", exact=True).input_value() == "2026-12-09"
    assert announcements(runtime) == []

    # Put right, the preview's languages are tabs on a wide screen.
    page.page.get_by_label("Reason").fill("a burst pipe")
    page.page.get_by_label("Link to more details (optional)").fill("https://demo.example/news")
    page.page.get_by_role("button", name="Check before sending").click()
    wait_for_scripts(page)
    assert page.page.locator("#preview-en").is_visible()
    assert not page.page.locator("#preview-pl").is_visible()
    page.page.get_by_role("tab", name="Polish").click()
    assert "Powód: a burst pipe" in page.page.inner_text("#preview-pl")
    assert "https://demo.example/news" in page.page.inner_text("#preview-pl")
    polish_email = page.page.frame_locator("#preview-pl iframe").first.locator("body")
    assert "a burst pipe" in polish_email.inner_text()
    page.check("check-polish-tab")
    page.page.get_by_role("tab", name="Urdu").click()
    assert page.page.locator("#preview-ur .console-phone__bubble").get_attribute("dir") == "rtl"
    page.check("check-urdu-tab")


def _tab_to(page: ConsolePage, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        if page.page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_the_whole_flow_by_keyboard_alone_and_a_double_send_sends_once(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, FAMILIES)
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")
    keyboard = page.page.keyboard
    _tab_to(page, "a[href='/compose']")
    keyboard.press("Enter")
    page.page.wait_for_url("**/compose/category*")
    _tab_to(page, "input[name=category]")
    for _ in range(10):  # arrow keys move through a group of radios, choosing as they go
        if page.page.evaluate("document.activeElement.value") == "newsletter":
            break
        keyboard.press("ArrowDown")
    assert page.page.get_by_label("Newsletter").is_checked()
    _tab_to(page, "button[type=submit]:not(.console-account__button)")
    keyboard.press("Enter")
    page.page.wait_for_url("**/compose/audience*")
    _tab_to(page, "input[value='year:6']")
    keyboard.press("Space")
    _tab_to(page, "button.govuk-button:not(.govuk-button--secondary)")
    keyboard.press("Enter")
    page.page.wait_for_url("**/compose/details*")
    _tab_to(page, "#var-title")
    keyboard.type("Winter news")
    _tab_to(page, "#var-url")
    keyboard.type("https://demo-primary.example/news")
    _tab_to(page, "button.govuk-button:not(.console-account__button)")
    keyboard.press("Enter")
    page.page.wait_for_url("**/compose/check*")
    page.check("check-office")
    assert "Year 6" in page.page.inner_text(".govuk-summary-list")
    when = page.page.inner_text("#preview-when")
    assert when.startswith(("It waits until", "It goes as soon as you send it")), when
    fields = page.page.evaluate(
        "Array.from(document.querySelectorAll('form[action=\"/compose/send\"] input'))"
        ".map(i => [i.name, i.value])"
    )
    _tab_to(page, "form[action='/compose/send'] button")
    keyboard.press("Enter")
    page.page.wait_for_url("**/announcements/*")
    first = page.page.url
    # The same form posted again (a second click, or Back and send): the same announcement.
    again = page.page.request.post(
        page.base_url + "/compose/send", form=dict(fields), max_redirects=0
    )
    assert again.status == 303
    assert first.endswith(again.headers["location"])
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Announcement)) == 1
