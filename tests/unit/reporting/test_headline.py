"""The report's first lines say where an announcement is in the office's words (issue 15,
problem 8: the header said "(planned)" after every message had gone)."""

from __future__ import annotations

from typing import Any

from dispatcher.reporting.headline import plural, report_headline


def _report(**fields: Any) -> dict[str, Any]:
    return {
        "state": "done",
        "messages_handed_to_providers": 819,
        "families_not_reached": 2,
        "still_to_send": {"now": 0, "held": 0, "held_until": None},
        **fields,
    }


def test_a_finished_announcement_says_done_with_messages_and_families() -> None:
    assert report_headline(_report()) == [
        "done: 819 messages handed to providers, 2 families not reached"
    ]


def test_one_message_and_one_family_are_singular() -> None:
    line = report_headline(_report(messages_handed_to_providers=1, families_not_reached=1))
    assert line == ["done: 1 message handed to providers, 1 family not reached"]


def test_a_sending_announcement_says_what_is_still_to_go() -> None:
    lines = report_headline(
        _report(
            state="sending",
            messages_handed_to_providers=10,
            families_not_reached=0,
            still_to_send={"now": 3, "held": 40, "held_until": "2026-11-25T08:00:00+00:00"},
        )
    )
    assert lines == [
        "sending: 10 messages handed to providers, 0 families not reached",
        "still to go: 3 messages being sent, 40 messages waiting for the send window "
        "until 2026-11-25T08:00:00+00:00",
    ]


def test_the_wait_is_said_in_the_schools_time_when_the_report_knows_it() -> None:
    lines = report_headline(
        _report(
            state="sending",
            still_to_send={
                "now": 0,
                "held": 40,
                "held_until": "2026-11-30T08:00:00+00:00",
                "held_until_local": "Monday 30 November 2026 at 08:00",
            },
        )
    )
    assert lines[1] == (
        "still to go: 40 messages waiting for the send window until Monday 30 November 2026 "
        "at 08:00"
    )


def test_received_planning_and_cancelled_say_so() -> None:
    assert report_headline(_report(state="planning", messages_handed_to_providers=0))[0] == (
        "planning: the audience is still being worked out; 0 messages handed to providers"
    )
    assert report_headline(_report(state="cancelled"))[0] == (
        "cancelled: 819 messages handed to providers before the cancel, 2 families not reached"
    )
    assert not any("planned" in line for line in report_headline(_report()))


def test_plural() -> None:
    assert (plural(0, "family", "families"), plural(1, "family", "families")) == (
        "0 families",
        "1 family",
    )
    assert plural(2, "segment") == "2 segments"
