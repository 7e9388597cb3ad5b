"""The announcement page in a real Chromium: the progress updating by itself, the cancel and
its confirmation, who may cancel and who may see, the families not reached (needs flags,
tap-to-call, the call form by keyboard, the list shrinking by itself), the print view, the
CSV, the replies, and home's "Sending now" (axe-core on every page state reached)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from dispatcher.domain import DeliveryState
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import move_delivery
from dispatcher.store.models import AuditEntry, CallLog, Delivery, InboundMessage
from dispatcher.tracking.calls import log_call
from tests.browser.conftest import PASSWORD, ConsolePage
from tests.support.factories import create, import_roster, many_families, plan, row

#: A weekday morning in school hours, so that nothing waits for the send window.
MONDAY_MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
NEWS = {"title": "News", "url": "https://news.example.org/n"}
LIVE = 6000  # ms: the page asks every 2 s; a little slack for a busy machine


def sign_in(page: ConsolePage, email: str) -> None:
    page.open("/sign-in")
    page.page.get_by_label("Email address").fill(email)
    page.page.get_by_label("Password").fill(PASSWORD)
    page.page.get_by_role("button", name="Continue").click()
    page.page.wait_for_url(page.base_url + "/")


def deliveries_of(runtime: Runtime, announcement_id: int) -> list[int]:
    with runtime.sessions() as db:
        return list(
            db.scalars(
                select(Delivery.id)
                .where(Delivery.announcement_id == announcement_id)
                .order_by(Delivery.id)
            )
        )


def send(runtime: Runtime, delivery_ids: list[int]) -> None:
    """Move deliveries to sent as a worker would (pending, sending, sent)."""
    now = datetime.now(UTC)
    with runtime.sessions() as db:
        for delivery_id in delivery_ids:
            move_delivery(db, delivery_id, DeliveryState.SENDING, now=now)
            move_delivery(db, delivery_id, DeliveryState.SENT, now=now, sent_at=now)
        db.commit()


def test_the_progress_updates_by_itself_without_a_reload(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, many_families(4))
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    ids = deliveries_of(runtime, announcement_id)
    assert ids
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")

    sending_now = page.page.locator(".console-announcement").first
    expect(sending_now.get_by_text("0% through")).to_be_visible()
    page.check("home-sending-now")
    sending_now.get_by_role("link", name="The school is closed today").click()
    page.page.wait_for_url(f"{page.base_url}/announcements/{announcement_id}")
    body = page.page.locator("main")
    expect(page.page.get_by_role("heading", level=1)).to_have_text(
        "The school is closed today or tomorrow (snow, heating failure, power cut)."
    )
    expect(body.get_by_text("The whole school")).to_be_visible()
    expect(page.page.locator("[data-field=percent_words]")).to_have_text("0% through")
    expect(page.page.get_by_text("These numbers update by themselves")).to_be_visible()
    page.check("announcement-sending")
    page.page.evaluate("window.notReloaded = true")

    half = ids[: len(ids) // 2]
    send(runtime, half)
    expect(page.page.locator("[data-field=through_words]")).to_have_text(
        f"{len(half)} of {len(ids)} messages through", timeout=LIVE
    )
    expect(page.page.locator("progress")).to_have_attribute("value", "50")
    assert page.page.locator("[data-live-announce]").inner_text() == (
        "Sending: half of the messages through"
    )
    send(runtime, ids[len(half) :])
    expect(page.page.locator("[data-field=percent_words]")).to_have_text(
        "100% through", timeout=LIVE
    )
    expect(page.page.locator("[data-live-announce]")).to_have_text(
        f"Sending finished: {len(ids)} of {len(ids)} messages through"
    )
    table = page.page.locator("table[data-channels]")
    expect(table.locator("thead")).to_contain_text("Text messages")
    pending, sent = table.locator("tbody tr").nth(0), table.locator("tbody tr").nth(1)
    expect(pending.locator("th")).to_have_text("Not sent yet")
    expect(sent.locator("th")).to_have_text("Sent")
    assert {int(n) for n in pending.locator("td").all_inner_texts()} == {0}
    assert sum(int(n) for n in sent.locator("td").all_inner_texts()) == len(ids)
    assert page.page.evaluate("window.notReloaded") is True
    assert page.page.locator("[data-field=first_sent]").inner_text() != "Not yet"
    page.check("announcement-finished")


def test_cancelling_asks_first_then_cancels_what_is_not_yet_sent(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, many_families(3))
    announcement_id = create(runtime, "newsletter", ["year:6"], NEWS, now=MONDAY_MORNING)
    plan(runtime, announcement_id, MONDAY_MORNING)
    ids = deliveries_of(runtime, announcement_id)
    send(runtime, ids[:1])
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")
    page.open(f"/announcements/{announcement_id}")
    page.page.get_by_role("button", name="Cancel messages not yet sent").click()
    warning = page.page.locator(".govuk-warning-text")
    expect(warning).to_contain_text(f"{len(ids) - 1} messages not yet sent will be cancelled")
    expect(warning).to_contain_text("1 message already sent cannot be recalled")
    page.check("cancel-confirmation")
    page.page.get_by_role("link", name="No, go back to the announcement").click()
    with runtime.sessions() as db:
        assert db.scalar(select(Delivery.state).where(Delivery.id == ids[-1])) != "cancelled"
    page.page.get_by_role("button", name="Cancel messages not yet sent").click()
    page.page.get_by_role("button", name="Yes, cancel the messages not yet sent").click()
    expect(page.page.locator(".govuk-notification-banner")).to_contain_text(
        f"{len(ids) - 1} messages not yet sent will not be sent"
    )
    expect(page.page.locator("main .govuk-tag").first).to_have_text("Cancelled")
    page.check("cancelled")
    with runtime.sessions() as db:
        states = dict(
            db.execute(select(Delivery.id, Delivery.state).where(Delivery.id.in_(ids))).all()
        )
        actors = db.scalars(
            select(AuditEntry.actor).where(AuditEntry.announcement_id == announcement_id)
        ).all()
    assert states[ids[0]] == "sent"
    assert all(states[i] == "cancelled" for i in ids[1:])
    assert any(actor.startswith("staff:") for actor in actors)


def test_an_office_account_may_not_cancel_an_urgent_one(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, many_families(2))
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page(width=360, height=740)
    sign_in(page, "office@demo.example.org")
    page.open(f"/announcements/{announcement_id}")
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    page.check("announcement-360px")
    expect(page.page.locator(".govuk-inset-text")).to_contain_text(
        "Only a senior or admin account can cancel it"
    )
    assert page.page.get_by_role("button", name="Cancel messages not yet sent").count() == 0
    response = page.page.goto(f"{page.base_url}/announcements/{announcement_id}/cancel")
    assert response is not None and response.status == 403
    expect(page.page.get_by_role("heading", level=1)).to_have_text(
        "You cannot cancel this announcement"
    )
    expect(page.page.locator("main")).to_contain_text("your account is an office account")
    page.check("cancel-refused")


def test_another_schools_account_and_unknown_ids_get_page_not_found(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    announcement_id = create(runtime)
    staff("office@brockmoor.example.org", "office", school="brockmoor")
    page: ConsolePage = new_page()
    sign_in(page, "office@brockmoor.example.org")
    for path in (
        f"/announcements/{announcement_id}",
        f"/announcements/{announcement_id}/not-reached",
        f"/announcements/{announcement_id}/not-reached.csv",
        f"/announcements/{announcement_id}/cancel",
        "/announcements/99999999",
        "/announcements/not-a-number",
        "/announcements/-1/not-reached/print",
    ):
        response = page.page.goto(page.base_url + path)
        assert response is not None and response.status == 404, path
        expect(page.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.check("not-found")
    status = page.page.evaluate(
        f"fetch('/announcements/{announcement_id}/progress.json').then(r => r.status)"
    )
    assert status == 404


def test_replies_are_shown_beside_the_announcement(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    import_roster(runtime, many_families(1))
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    with runtime.sessions() as db:
        delivery = db.scalars(
            select(Delivery).where(Delivery.announcement_id == announcement_id)
        ).first()
        assert delivery is not None
        for n, (kind, body) in enumerate([("reply", "YES thank you"), ("stop", "STOP")]):
            db.add(
                InboundMessage(
                    received_at=datetime.now(UTC),
                    provider_message_id=f"SM{n}",
                    from_phone="+447700900000",
                    body=body,
                    kind=kind,
                    delivery_id=delivery.id,
                    announcement_id=announcement_id,
                    contact_id=delivery.contact_id,
                )
            )
        db.commit()
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")
    page.open(f"/announcements/{announcement_id}")
    replies = page.page.locator(".console-replies")
    expect(replies).to_contain_text("Anne Lovelace")
    expect(replies).to_contain_text("YES thank you")
    expect(replies).to_contain_text("Asked to stop texts")
    assert "+447700900000" not in replies.inner_text()
    page.check("replies")


def _families_nobody_can_message(runtime: Runtime) -> int:
    """Three one-carer families with only a landline: SA (the carer's name a formula), SH
    (the carer hearing impaired) and SC. An emergency closure planned for them."""
    import_roster(
        runtime,
        [
            row(
                student_id="SA",
                contact_id="A1",
                contact_first_name='=HYPERLINK("https://evil.example.org","x")',
                mobile="01632 960111",
                email="",
            ),
            row(
                student_id="SH",
                student_first_name="Hana",
                contact_id="H1",
                contact_first_name="Hugo",
                relationship="father",
                mobile="01632 960122",
                email="",
                needs="hearing_impaired",
            ),
            row(
                student_id="SC",
                student_first_name="Cara",
                contact_id="C3",
                contact_first_name="Cleo",
                relationship="grandmother",
                mobile="01632 960133",
                email="",
            ),
        ],
    )
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    return announcement_id


def test_the_families_not_reached_are_listed_phoned_logged_and_leave_the_list(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    announcement_id = _families_nobody_can_message(runtime)
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page(width=360, height=740)
    sign_in(page, "office@demo.example.org")
    page.open(f"/announcements/{announcement_id}")
    expect(page.page.locator("main")).to_contain_text("3 families had no message reach them")
    page.page.get_by_role("link", name="See the families to phone").click()
    families = page.page.locator("section[data-family]")
    expect(families).to_have_count(3)
    expect(page.page.locator("[data-live-count]")).to_have_text("3 families to phone")

    hana = page.page.locator("section[data-family='student:SH']")
    expect(hana.get_by_text("Hearing impaired — do not phone")).to_be_visible()
    expect(hana).to_contain_text("Hugo Lovelace (father)")
    assert hana.locator("a[href^='tel:']").count() == 0
    cara = page.page.locator("section[data-family='student:SC']")
    expect(cara).to_contain_text("(grandmother)")
    call_cara = cara.get_by_role("link", name="Call 01632 960133")
    expect(call_cara).to_have_attribute("href", "tel:+441632960133")
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 360
    page.check("not-reached-360px")

    # A call logged with the keyboard alone: no answer, with a note.
    cara.get_by_label("No answer").focus()
    page.page.keyboard.press("Space")
    page.page.keyboard.press("Tab")
    page.page.keyboard.type("Try again after 10")
    page.page.keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.textContent").startswith("Log the call")
    page.page.keyboard.press("Enter")
    page.page.wait_for_url("**/not-reached?logged=1#list")
    expect(page.page.locator(".govuk-notification-banner")).to_contain_text("Call logged")
    expect(cara.locator(".console-calls")).to_contain_text("no answer")
    expect(cara.locator(".console-calls")).to_contain_text("Try again after 10")
    expect(cara.locator(".console-calls")).to_contain_text("by you")
    expect(families).to_have_count(3)
    page.check("call-logged")

    # A form sent without an outcome comes back with the error beside the field.
    cara.get_by_role("button", name="Log the call").click()
    summary = page.page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Select what happened when you phoned")
    page.check("call-form-error")
    summary.get_by_role("link", name="Select what happened when you phoned").click()
    focused = page.page.evaluate("document.activeElement.value")
    assert focused == "reached"

    page.page.keyboard.press("Space")  # "Reached", from where the error link left the focus
    cara = page.page.locator("section[data-family='student:SC']")
    cara.get_by_role("button", name="Log the call").click()
    expect(page.page.locator("section[data-family='student:SC']")).to_have_count(0)
    expect(families).to_have_count(2)
    with runtime.sessions() as db:
        outcomes = db.scalars(select(CallLog.outcome).order_by(CallLog.id)).all()
        audit = list(db.scalars(select(AuditEntry.actor).where(AuditEntry.action == "call.logged")))
    assert len(audit) == 2 and all(actor.startswith("staff:") for actor in audit)
    assert [str(o) for o in outcomes] == ["no_answer", "reached"]

    # Someone else logs a call on their phone: the list shrinks by itself, no reload; a
    # note being typed in another family's form is kept.
    page.page.evaluate("window.notReloaded = true")
    note = page.page.locator("section[data-family='student:SA'] textarea")
    note.fill("half-typed")
    with runtime.sessions() as db:
        log_call(
            db,
            announcement_id,
            contact="H1",
            student="SH",
            outcome="voicemail",
            note="",
            called_by="staff:99",
            now=datetime.now(UTC),
        )
    expect(page.page.locator("section[data-family='student:SH']")).to_have_count(0, timeout=12000)
    expect(page.page.locator("[data-live-count]")).to_have_text("1 family to phone")
    expect(note).to_have_value("half-typed")
    assert page.page.evaluate("window.notReloaded") is True
    page.check("list-shrunk")


def test_the_print_view_and_the_csv_of_the_families_to_phone(
    new_page: Any, staff: Any, runtime: Runtime
) -> None:
    announcement_id = _families_nobody_can_message(runtime)
    staff("office@demo.example.org", "office")
    page: ConsolePage = new_page()
    sign_in(page, "office@demo.example.org")
    page.open(f"/announcements/{announcement_id}/not-reached")
    page.page.get_by_role("link", name="Print the list").click()
    table = page.page.locator("table")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).to_contain_text("Hearing impaired — do not phone")
    expect(table).to_contain_text("01632 960133")
    page.check("print-view")
    page.page.emulate_media(media="print")
    assert not page.page.locator("header").is_visible()
    page.page.emulate_media(media="screen")

    response = page.page.request.get(
        f"{page.base_url}/announcements/{announcement_id}/not-reached.csv"
    )
    assert response.status == 200
    assert (
        f"announcement-{announcement_id}-not-reached.csv" in response.headers["content-disposition"]
    )
    lines = list(csv.DictReader(io.StringIO(response.text())))
    by_contact = {line["contact_id"]: line for line in lines}
    assert set(by_contact) == {"A1", "H1", "C3"}
    assert by_contact["A1"]["contact_name"].startswith("'=HYPERLINK(")
    assert by_contact["C3"]["phone"] == "01632 960133"
    assert by_contact["H1"]["phone"] == ""
    assert by_contact["H1"]["text_relay_number"] == "01632 960122"
    assert by_contact["C3"]["relationship"] == "grandmother"
