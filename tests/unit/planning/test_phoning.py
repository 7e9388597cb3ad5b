"""What the office's phone lists say beside a contact (issue 15, problem 6)."""

from __future__ import annotations

from dispatcher.domain import CallOutcome, Need
from dispatcher.planning.phoning import (
    DO_NOT_PHONE,
    PHONE_FIRST,
    for_the_office,
    may_phone,
    parse_needs,
    phone_advice,
    told_by_phone,
)


def test_hearing_impaired_contacts_are_not_phoned_and_sight_impaired_are_phoned_first() -> None:
    assert phone_advice({Need.HEARING_IMPAIRED}) == DO_NOT_PHONE
    assert phone_advice({Need.VISUALLY_IMPAIRED}) == PHONE_FIRST
    assert phone_advice({Need.SCREEN_READER, Need.LARGE_PRINT}) == PHONE_FIRST
    # deafblind: a call they cannot hear helps nobody
    assert phone_advice({Need.HEARING_IMPAIRED, Need.VISUALLY_IMPAIRED}) == DO_NOT_PHONE
    assert phone_advice({Need.NO_SMS}) == ""
    assert not may_phone({Need.HEARING_IMPAIRED}) and may_phone({Need.VISUALLY_IMPAIRED})


def test_stored_needs_are_read_leniently() -> None:
    assert parse_needs("no_sms; HEARING_IMPAIRED;;unknown") == {Need.NO_SMS, Need.HEARING_IMPAIRED}
    assert parse_needs(None) == frozenset()


def test_a_contact_who_must_not_be_phoned_keeps_no_number_to_call() -> None:
    rows = for_the_office(
        [
            {"contact_id": "H", "phone": "+441632960102", "needs": "hearing_impaired"},
            {"contact_id": "V", "phone": "+441632960103", "needs": "visually_impaired"},
            {"contact_id": "P", "phone": "+441632960104", "needs": ""},
        ]
    )
    assert [(r["phone"], r["phone_advice"], r["text_relay_number"]) for r in rows] == [
        ("", DO_NOT_PHONE, "+441632960102"),
        ("+441632960103", PHONE_FIRST, ""),
        ("+441632960104", "", ""),
    ]
    assert all("needs" not in r for r in rows)


def test_a_family_is_told_by_a_call_answered_or_a_voicemail_left() -> None:
    assert told_by_phone([CallOutcome.NO_ANSWER, CallOutcome.REACHED])
    assert told_by_phone([CallOutcome.VOICEMAIL])
    assert not told_by_phone([CallOutcome.NO_ANSWER, CallOutcome.WRONG_NUMBER])
    assert not told_by_phone([])
