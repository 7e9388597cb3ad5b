"""Issue 16's snow day, whole, in Chromium against a real ``dispatcher web``, a real
``dispatcher worker`` process, the test's database (SQLite and PostgreSQL), Redis and the
provider emulator (the real Twilio, SendGrid and FCM SDKs): a senior composes a
whole-school closure on a phone, sees the Polish and Urdu previews, and asks; the deputy
is told by text and email, approves in another browser with a fresh code; the progress
reaches 100% by itself; the families no channel reached are listed, the hearing-impaired
one flagged, and the office logs a call to the grandmother, who leaves the list."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement, AuditEntry, CallLog, StaffAccount
from emulator import ProviderEmulator
from tests.browser.conftest import ConsolePage
from tests.browser.test_compose import FAMILIES
from tests.browser.test_sign_off import enrolled, sign_in_senior
from tests.support.factories import import_roster, row
from tests.support.processes import start_worker, worker_logs

#: The grandmother: a landline and no email, so no channel reaches her; the office phones.
GRANDMOTHER = row(
    student_id="S5",
    student_first_name="Lily",
    student_last_name="Brown",
    year="3",
    **{"class": "3C"},
    contact_id="C5",
    contact_first_name="Joan",
    contact_last_name="Brown",
    relationship="grandmother",
    mobile="01632 960555",
    email="",
)
DEPUTY_MOBILE = "+447700900999"
#: Messages as parents' phones and inboxes get them, everyone but the two unreachable.
REACHED_BY_TEXT = {"+447700900001", "+447700900002", "+447700900003"}
LIVE = 90_000  # ms: the worker plans and sends while the page watches


@pytest.fixture
def worker(emulator: ProviderEmulator, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A ``dispatcher worker`` process on the test's database and Redis, sending through
    the emulator."""
    values = {**os.environ, "DISPATCHER_PUBLIC_BASE_URL": "https://messages.demo.invalid"}
    process = start_worker(values, threads=4)
    yield values
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def _texts(emulator: ProviderEmulator) -> Counter[str]:
    return Counter(
        record.form["To"] for record in emulator.messages("twilio") if record.form is not None
    )


def test_a_snow_day_from_a_phone_to_the_last_family_phoned(
    worker: dict[str, str], new_page: Any, staff: Any, runtime: Runtime, emulator: ProviderEmulator
) -> None:
    import_roster(runtime, [*FAMILIES, GRANDMOTHER])
    head = staff("head@demo.example.org", "senior")
    deputy = staff("deputy@demo.example.org", "senior")
    with runtime.sessions() as session:
        account = session.get(StaffAccount, deputy.id)
        assert account is not None
        account.phone = DEPUTY_MOBILE
        session.commit()
    head_totp, deputy_totp = enrolled(runtime, head), enrolled(runtime, deputy)

    # 06:45, the head on a phone: compose, check what parents will read, send.
    phone: ConsolePage = new_page(width=360, height=740)
    sign_in_senior(phone, "head@demo.example.org", head_totp)
    phone.page.get_by_role("button", name="New announcement").click()
    phone.page.get_by_label("Emergency closure").check()
    phone.page.get_by_role("button", name="Continue").click()
    phone.page.get_by_label("The whole school").check()
    phone.page.get_by_role("button", name="Continue").click()
    phone.page.get_by_label("Date", exact=True).fill("2026-12-09")
    phone.page.get_by_label("Reason").fill("heavy snow")
    phone.page.get_by_role("button", name="Check before sending").click()
    assert "Szkoła zamknięta: Wednesday 9 December" in phone.page.inner_text("#preview-pl")
    assert "اسکول Wednesday 9 December کو بند رہے گا" in phone.page.inner_text("#preview-ur")
    phone.check("check-before-sending")
    phone.page.get_by_role("button", name="Send now").click()
    phone.page.wait_for_url("**/sign-off/*")
    sign_off_path = phone.page.url.removeprefix(phone.base_url)
    assert phone.page.get_by_text("Waiting for a second senior").first.is_visible()
    phone.check("waiting-for-sign-off")
    with runtime.sessions() as session:
        assert session.scalars(select(Announcement)).all() == []  # nothing sent yet

    # The deputy is told by the product itself: a text and an email, with the link.
    def notices() -> tuple[list[str], list[str]]:
        texts = [r.form["Body"] for r in emulator.messages("twilio") if r.form is not None]
        emails = [json.dumps(r.json) for r in emulator.messages("sendgrid")]
        return texts, emails

    deadline = time.monotonic() + 60
    while not all(notices()):
        assert time.monotonic() < deadline, f"no notice to the deputy:\n{worker_logs(worker)}"
        time.sleep(0.2)
    texts, emails = notices()
    assert texts[0].endswith(f"Open https://messages.demo.invalid{sign_off_path}")
    assert "deputy@demo.example.org" in emails[0]

    # The deputy, in a browser of their own, sees the same preview and approves.
    desk: ConsolePage = new_page()
    sign_in_senior(desk, "deputy@demo.example.org", deputy_totp)
    desk.open(sign_off_path)
    desk.page.get_by_role("tab", name="Polish").click()
    expect(desk.page.locator("#preview-pl")).to_contain_text("Szkoła zamknięta: Wednesday 9")
    desk.page.get_by_label("Code from your authenticator app").fill(
        deputy_totp.at(time.time() + 30)
    )
    desk.page.get_by_role("button", name="Approve and send").click()
    assert desk.page.get_by_text("Approved and sent").first.is_visible()
    desk.check("approved")
    progress_path = desk.page.get_by_role("link", name="Watch its progress").get_attribute("href")
    assert progress_path is not None

    # The head watches it go, without reloading.
    phone.open(progress_path)
    phone.page.evaluate("window.notReloaded = true")
    expect(phone.page.locator("[data-field=percent_words]")).to_have_text(
        "100% through", timeout=LIVE
    )
    assert phone.page.evaluate("window.notReloaded") is True
    asked_by = phone.page.locator(".govuk-summary-list__row", has_text="Asked by")
    expect(asked_by).to_contain_text("head@demo.example.org")  # the person, not staff:1
    phone.check("all-through")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 360
    sent = _texts(emulator)
    assert {number: sent[number] for number in REACHED_BY_TEXT} == dict.fromkeys(
        REACHED_BY_TEXT, 1
    ), sent

    # 09:00, the office phones the families no message reached.
    phone.page.get_by_role("link", name="See the families to phone").click()
    families = phone.page.locator("section[data-family]")
    expect(families).to_have_count(2)
    hearing = phone.page.locator("section[data-family='student:S4']")
    expect(hearing.get_by_text("Hearing impaired — do not phone")).to_be_visible()
    assert hearing.locator("a[href^='tel:']").count() == 0
    grandmother = phone.page.locator("section[data-family='student:S5']")
    call = grandmother.get_by_role("link", name="Call 01632 960555")
    expect(call).to_have_attribute("href", "tel:+441632960555")
    phone.check("families-to-phone")
    grandmother.get_by_label("Reached").check()
    grandmother.get_by_label("Note").fill("Knows school is shut")
    grandmother.get_by_role("button", name="Log the call").click()
    expect(phone.page.locator("section[data-family='student:S5']")).to_have_count(0)
    expect(families).to_have_count(1)
    phone.check("call-logged")

    with runtime.sessions() as session:
        announcement = session.scalars(select(Announcement)).one()
        assert announcement.requested_by == head.name
        [logged] = session.scalars(select(CallLog)).all()
        assert (str(logged.outcome), logged.called_by) == ("reached", head.name)
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"sign_off.requested", "sign_off.approved", "call.logged"} <= actions
