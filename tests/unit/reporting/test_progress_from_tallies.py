"""Progress from tallies (decision 0097): rows for the same channel and state add up, a
channel with nothing left disappears, and the send times are the earliest and latest."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatcher.reporting.progress import progress_from_tallies
from dispatcher.store.tallies import Tally, merge_tallies

AT = datetime(2026, 12, 8, 6, 45, tzinfo=UTC)
LATER = datetime(2026, 12, 8, 6, 47, tzinfo=UTC)


def test_moves_between_states_add_up_per_channel() -> None:
    tallies = [
        Tally("sms", "pending", 10, None, None),
        Tally("sms", "pending", -3, None, None),
        Tally("sms", "sending", 1, None, None),
        Tally("sms", "sent", 2, AT, LATER),
        Tally("email", "held", 4, None, None),
        Tally("email", "bounced", 1, None, None),
    ]
    got = progress_from_tallies(7, "sending", tallies)
    assert got["channels"]["sms"] == {
        "pending": 8,
        "sent": 2,
        "delivered": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 10,
    }
    assert got["channels"]["email"]["pending"] == 4
    assert got["channels"]["email"]["failed"] == 1
    assert got["messages"]["total"] == 15 and got["messages"]["through"] == 3
    assert got["percent_through"] == 20
    assert (got["first_sent_at"], got["last_sent_at"]) == (AT.isoformat(), LATER.isoformat())


def test_a_channel_whose_rows_cancel_out_is_left_out() -> None:
    tallies = [Tally("push", "pending", 1, None, None), Tally("push", "pending", -1, None, None)]
    got = progress_from_tallies(7, "done", tallies)
    assert got["channels"] == {} and got["percent_through"] is None


def test_no_share_through_while_the_audience_is_still_planned() -> None:
    got = progress_from_tallies(7, "planning", [Tally("sms", "sent", 5, AT, AT)])
    assert got["percent_through"] is None and got["messages"]["sent"] == 5


def test_merging_keeps_one_row_per_channel_and_state_and_drops_empty_ones() -> None:
    merged = merge_tallies(
        [
            Tally("sms", "sent", 1, LATER, LATER),
            Tally("sms", "sent", 1, AT, AT),
            Tally("sms", "sending", 2, None, None),
            Tally("sms", "sending", -2, None, None),
            Tally("email", "sent", 0, AT, AT),  # only a send time changed: kept for the time
        ]
    )
    assert merged == [
        Tally("email", "sent", 0, AT, AT),
        Tally("sms", "sent", 2, AT, LATER),
    ]
