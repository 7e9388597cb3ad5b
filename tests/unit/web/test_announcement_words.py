"""The announcement page's progress in words: the bar's text, the milestones a screen reader
hears, when the page stops asking, the cancel's counts and refusals, audiences in words."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatcher.domain import AnnouncementState
from dispatcher.web.console.announcement_words import (
    audience_words,
    cancel_counts,
    cancel_refusal_words,
    clock_words,
    is_finished,
    milestone,
    percent_words,
    progress_view,
    through_words,
)

LONDON = ZoneInfo("Europe/London")


def progress(
    state: AnnouncementState = AnnouncementState.SENDING,
    pending: int = 0,
    through: int = 0,
    percent: int | None = None,
) -> dict[str, Any]:
    total = pending + through
    if percent is None and total:
        percent = round(100 * through / total)
    return {
        "announcement_id": 7,
        "state": state,
        "channels": {
            "sms": {
                "pending": pending,
                "sent": through,
                "delivered": 0,
                "failed": 0,
                "cancelled": 0,
                "total": total,
            }
        },
        "messages": {"pending": pending, "total": total, "through": through},
        "percent_through": percent,
        "first_sent_at": "2026-12-07T06:45:01+00:00" if through else None,
        "last_sent_at": "2026-12-07T06:45:09+00:00" if through else None,
    }


@pytest.mark.parametrize(
    ("through", "pending", "heard"),
    [
        (0, 100, "Sending started"),
        (24, 76, "Sending started"),
        (25, 75, "Sending: a quarter of the messages through"),
        (50, 50, "Sending: half of the messages through"),
        (99, 1, "Sending: three quarters of the messages through"),
        (1000, 0, "Sending finished: 1,000 of 1,000 messages through"),
    ],
)
def test_a_screen_reader_hears_only_coarse_steps(through: int, pending: int, heard: str) -> None:
    assert milestone(progress(through=through, pending=pending)) == heard


def test_while_planning_there_is_no_share_yet_and_the_page_keeps_asking() -> None:
    planning = progress(AnnouncementState.PLANNING, pending=10, percent=None)
    planning["percent_through"] = None
    assert percent_words(planning) == "Working out who gets it"
    assert milestone(planning) == "Working out who gets the announcement"
    assert not is_finished(planning)
    # Planning with no message written yet is not finished either.
    assert not is_finished(progress(AnnouncementState.RECEIVED))


def test_finished_when_nothing_is_pending_and_the_bar_says_so() -> None:
    done = progress(AnnouncementState.DONE, through=3)
    assert is_finished(done)
    assert percent_words(done) == "100% through"
    assert through_words(done) == "3 of 3 messages through"
    assert not is_finished(progress(through=3, pending=1))
    nobody = progress(AnnouncementState.DONE)
    assert is_finished(nobody) and percent_words(nobody) == "Nobody to send to"
    assert through_words(progress(through=1)) == "1 of 1 message through"


def test_a_cancel_is_said_as_such() -> None:
    assert milestone(progress(AnnouncementState.CANCELLED, through=2)) == (
        "Cancelled: nothing more will be sent"
    )
    assert milestone(progress(AnnouncementState.CANCELLED, through=2, pending=1)).startswith(
        "Cancelled: the messages being sent now finish"
    )


def test_send_times_read_in_the_schools_time_to_the_second() -> None:
    assert clock_words("2026-07-06T06:45:01+00:00", LONDON) == "07:45:01 on Monday 6 July"
    assert clock_words(None, LONDON) == "Not yet"


def test_the_view_carries_each_channel_by_name_and_the_bar() -> None:
    view = progress_view(progress(through=62, pending=38), LONDON)
    assert view["percent"] == 62 and view["percent_words"] == "62% through"
    assert view["channels"] == [
        {
            "channel": "sms",
            "name": "Text messages",
            "pending": 38,
            "sent": 62,
            "delivered": 0,
            "failed": 0,
            "cancelled": 0,
            "total": 100,
        }
    ]
    assert view["first_sent"] == "06:45:01 on Monday 7 December"
    assert view["finished"] is False


def test_a_cancel_stops_what_is_pending_or_held_and_cannot_recall_the_rest() -> None:
    states = {"pending": 5, "held": 2, "sending": 1, "sent": 3, "delivered": 4, "failed": 9}
    assert cancel_counts(states) == (7, 8)
    assert cancel_counts({}) == (0, 0)


def test_refusals_say_your_account_not_a_token() -> None:
    urgent = cancel_refusal_words("body.category")
    assert "your account is an office account" in urgent and "token" not in urgent
    assert "whole school" in cancel_refusal_words("body.audience")


@pytest.mark.parametrize(
    ("specs", "words"),
    [
        (["school"], "The whole school"),
        (["year:6", "class:6B"], "Year 6, Class 6B"),
        (["year:R"], "Reception"),
        (["group:trip-paris"], "Group trip-paris"),
        (["student:S1", "student:S2"], "2 named pupils"),
        (["nonsense"], "nonsense"),
    ],
)
def test_audiences_in_words(specs: list[str], words: str) -> None:
    assert audience_words(specs) == words
