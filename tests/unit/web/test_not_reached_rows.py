"""The families still to phone: one per pupil nobody reached or told, never a tap-to-call
number for a contact who must not be phoned, other numbers to try, and the CSV lines."""

from __future__ import annotations

from typing import Any

from dispatcher.planning.phoning import DO_NOT_PHONE, PHONE_FIRST
from dispatcher.web.console.not_reached_rows import (
    csv_lines,
    dom_id,
    families_to_phone,
    reason_words,
)


def contact(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "student_id": "S1",
        "student_name": "Ada Lovelace",
        "contact_id": "C1",
        "contact_name": "Anne Lovelace",
        "phone": "+441632960111",
        "phone_advice": "",
        "text_relay_number": "",
        "reason": "no_channel: no mobile that takes texts, no email, no app",
        "family_reached": False,
        "told_by_phone": False,
        "calls": [],
        "other_numbers": [],
    }
    values.update(overrides)
    return values


def test_one_family_per_pupil_with_the_number_in_national_format_and_as_a_tel_link() -> None:
    rows = [contact(), contact(contact_id="C2", contact_name="Bob Lovelace", phone="")]
    [family] = families_to_phone(rows, {("S1", "C1"): "mother"})
    assert family.key == "student:S1" and family.student_name == "Ada Lovelace"
    anne, bob = family.people
    assert anne.relationship == "mother" and bob.relationship == ""
    assert anne.number is not None
    assert (anne.number.tel, anne.number.shown) == ("+441632960111", "01632 960111")
    assert bob.number is None
    assert anne.reason == "No mobile that takes texts, no email, no app"
    assert [c for c, _ in family.choices] == ["C1", "C2"]


def test_a_family_reached_or_told_by_phone_is_not_listed() -> None:
    rows = [contact(), contact(student_id="S2", contact_id="C9", family_reached=True)]
    assert [f.key for f in families_to_phone(rows, {})] == ["student:S1"]


def test_a_contact_who_must_not_be_phoned_has_no_number_to_ring() -> None:
    row = contact(phone="", phone_advice=DO_NOT_PHONE, text_relay_number="+441632960122")
    [family] = families_to_phone([row], {})
    [person] = family.people
    assert person.do_not_phone and person.number is None
    assert person.relay == "01632 960122"
    assert family.choices == [("C1", "Anne Lovelace (through Relay UK)")]


def test_other_numbers_to_try_once_each_and_not_of_a_listed_contact() -> None:
    other = {
        "contact_id": "C3",
        "contact_name": "Gran Lovelace",
        "phone": "+447700900003",
        "phone_advice": PHONE_FIRST,
    }
    listed = {**other, "contact_id": "C2", "phone": "+447700900002"}
    rows = [
        contact(other_numbers=[other, listed]),
        contact(contact_id="C2", other_numbers=[other]),
    ]
    [family] = families_to_phone(rows, {})
    assert [(n.contact_id, n.shown, n.advice) for n in family.others] == [
        ("C3", "07700 900003", PHONE_FIRST)
    ]
    assert [c for c, _ in family.choices] == ["C1", "C2", "C3"]


def test_calls_so_far_name_the_caller_in_words() -> None:
    call = {
        "outcome": "no_answer",
        "contact_name": "Anne Lovelace",
        "called_by": "staff:7",
        "at": "2026-12-07T09:05:00+00:00",
        "at_local": "Monday 7 December 2026 at 09:05",
        "note": "try after 10",
    }
    [family] = families_to_phone([contact(calls=[call])], {}, {"staff:7": "jo@example.org"})
    [entry] = family.calls
    assert (entry.outcome, entry.called_by, entry.at) == (
        "no answer",
        "jo@example.org",
        "Monday 7 December 2026 at 09:05",
    )
    [line] = csv_lines([family])
    assert line["last_call"] == (
        "no answer (jo@example.org, Monday 7 December 2026 at 09:05, to Anne Lovelace): "
        "try after 10"
    )
    assert line["phone"] == "01632 960111"


def test_ids_on_the_page_are_stable_and_valid_whatever_the_mis_id() -> None:
    assert dom_id('student:S 1"<x>') == dom_id('student:S 1"<x>')
    assert dom_id("student:S1") != dom_id("student:S2")
    assert dom_id('student:S 1"<x>').replace("-", "").isalnum()


def test_reasons_keep_their_words_and_lose_the_code() -> None:
    assert reason_words("all channels failed: sms failed (30003)") == (
        "All channels failed: sms failed (30003)"
    )
    assert reason_words("no_channel: no email") == "No email"
