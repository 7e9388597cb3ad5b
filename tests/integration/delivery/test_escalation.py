"""Escalation: when a pupil's contact has no channel left and nobody else in the family is
reached or still being tried, categories that escalate (emergency closures, short-notice
changes) go to the pupil's next contact; others do not. Safeguarding bars still apply.

A plan already messages every first and second contact, so the next contact here is one the
plan could not include: a carer added to the roster after the announcement was planned
(the school's MIS sync during the day)."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.reporting.reports import announcement_report
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import TUESDAY_10AM, deliveries, one, report_status, send

PAYMENT_VARS = {
    "item": "Year 6 residential",
    "amount": "£45.00",
    "due_date": "1 December",
    "payment_link": "https://pay.example/x",
}
MUM = row(contact_id="MUM", email="")  # a mobile only: one channel
DAD = row(
    contact_id="DAD",
    contact_first_name="Dan",
    priority="2",
    mobile="07700 900002",
    email="dan@example.com",
)


def _mum_texted(runtime: Any, category: str, variables: dict[str, str] | None) -> int:
    import_roster(runtime, [MUM])
    announcement_id = create(runtime, category, variables=variables, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    return announcement_id


def test_an_emergency_closure_escalates_to_the_second_contact_once(runtime: Any) -> None:
    announcement_id = _mum_texted(runtime, "emergency_closure", None)
    import_roster(runtime, [MUM, DAD])
    mum_sms = one(deliveries(runtime, announcement_id), channel="sms")

    queued = report_status(runtime, mum_sms, "undelivered", "30003")
    assert report_status(runtime, mum_sms, "undelivered", "30003") == []  # replayed

    escalated = [d for d in deliveries(runtime, announcement_id) if d.kind == "escalation"]
    assert sorted(d.channel for d in escalated) == ["email", "sms"]  # text + email back-up
    assert {d.fallback_of for d in escalated} == {mum_sms.id}
    assert sorted(w.object_id for w in queued) == sorted(d.id for d in escalated)
    assert {w.actor_name for w in queued} == {"deliver_urgent"}

    send(runtime, queued)
    data = _report(runtime, announcement_id)
    assert data["escalations"] == {"total": 2, "by_channel": {"email": 1, "sms": 1}}
    [mum] = data["not_reached"]
    assert (mum["contact_id"], mum["family_reached"], mum["other_phones"]) == (
        "MUM",
        True,
        "+447700900002",
    )


def test_a_payment_request_does_not_escalate(runtime: Any) -> None:
    announcement_id = _mum_texted(runtime, "payment_request", PAYMENT_VARS)
    import_roster(runtime, [MUM, DAD])
    mum_sms = one(deliveries(runtime, announcement_id), channel="sms")

    assert report_status(runtime, mum_sms, "undelivered", "30003") == []

    assert [d.kind for d in deliveries(runtime, announcement_id)] == ["primary"]
    [mum] = _report(runtime, announcement_id)["not_reached"]
    assert (mum["contact_id"], mum["family_reached"]) == ("MUM", False)


@pytest.mark.parametrize(
    "dad",
    [
        {**DAD, "no_contact": "Y"},  # a court order: never messaged about this pupil
        {**DAD, "mobile": "01632 960002", "email": ""},  # a landline only: no channel
    ],
    ids=["barred", "unreachable"],
)
def test_no_escalation_to_a_barred_or_unreachable_contact(
    runtime: Any, dad: dict[str, str]
) -> None:
    announcement_id = _mum_texted(runtime, "emergency_closure", None)
    import_roster(runtime, [MUM, dad])
    mum_sms = one(deliveries(runtime, announcement_id), channel="sms")

    assert report_status(runtime, mum_sms, "undelivered", "30003") == []
    assert [d.contact_id for d in deliveries(runtime, announcement_id)] == [mum_sms.contact_id]
    [mum] = _report(runtime, announcement_id)["not_reached"]
    if dad["no_contact"] == "Y":  # the barred contact's number is never offered
        assert mum["other_phones"] == ""


def test_no_escalation_while_someone_else_in_the_family_is_being_reached(runtime: Any) -> None:
    import_roster(runtime, [MUM, DAD])  # both in the plan: Dad is texted and emailed
    gran = row(contact_id="GRAN", priority="3", mobile="07700 900003", email="")
    announcement_id = create(runtime, now=TUESDAY_10AM)
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    import_roster(runtime, [gran])
    mum_sms = next(
        d
        for d in deliveries(runtime, announcement_id)
        if d.channel == "sms" and d.kind == "primary"
    )

    assert report_status(runtime, mum_sms, "undelivered", "30003") == []
    assert not [d for d in deliveries(runtime, announcement_id) if d.kind == "escalation"]


def _report(runtime: Any, announcement_id: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        return announcement_report(session, announcement_id)
