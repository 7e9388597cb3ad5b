"""The announcement page's progress in the office's words: the channels' names, the share
through ("62% through"), the first and last send in the school's time, the one sentence a
screen reader is told when something meaningful changes ("Sending finished"), and whether
the page can stop asking. Pure functions of ``reporting.progress.announcement_progress``'s
answer; nothing here reads the database or the clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dispatcher.audience import AudienceError, parse_audience
from dispatcher.domain import AnnouncementState
from dispatcher.reporting.headline import plural

#: Each channel as the office calls it.
CHANNEL_WORDS = {"sms": "Text messages", "email": "Emails", "push": "App notifications"}
#: The office's columns of a channel's messages, in the order the page shows them.
COLUMNS = ("pending", "sent", "delivered", "failed", "cancelled")
#: Their headings on the page.
COLUMN_WORDS = {
    "pending": "Not sent yet",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
#: Each state in the office's words, and the colour of its tag (govuk-tag modifiers).
STATE_WORDS: dict[AnnouncementState, tuple[str, str]] = {
    AnnouncementState.RECEIVED: ("Received: working out who gets it", "grey"),
    AnnouncementState.PLANNING: ("Working out who gets it", "grey"),
    AnnouncementState.SENDING: ("Sending", "blue"),
    AnnouncementState.DONE: ("Done: nothing left to send", "green"),
    AnnouncementState.CANCELLED: ("Cancelled", "red"),
}
_PLANNING = (AnnouncementState.RECEIVED, AnnouncementState.PLANNING)


def channel_words(channel: str) -> str:
    """The office's name of ``channel`` ("Text messages"); an unknown one as it is."""
    return CHANNEL_WORDS.get(channel, channel.capitalize())


def is_finished(progress: Mapping[str, Any]) -> bool:
    """True when nothing of the announcement is left to send (every message sent, failed or
    cancelled, or nobody to send to): the page stops asking for news then."""
    state = AnnouncementState(progress["state"])
    if state in _PLANNING:
        return False
    return int(progress["messages"]["pending"]) == 0


def percent_words(progress: Mapping[str, Any]) -> str:
    """The progress bar's text: "62% through", or what is happening before there is a
    share ("Working out who gets it", "Nobody to send to")."""
    percent = progress["percent_through"]
    if AnnouncementState(progress["state"]) in _PLANNING:
        return "Working out who gets it"
    if percent is None:
        return "Nobody to send to"
    return f"{percent}% through"


def through_words(progress: Mapping[str, Any]) -> str:
    """How many messages are through of how many: "620 of 1,000 messages through"."""
    through, total = int(progress["messages"]["through"]), int(progress["messages"]["total"])
    return f"{through:,} of {total:,} {'message' if total == 1 else 'messages'} through"


def milestone(progress: Mapping[str, Any]) -> str:
    """The sentence a screen reader hears when it changes, and only then: where the
    announcement is in a few coarse steps (planning, started, a quarter, half and three
    quarters through, finished, cancelled), so that the numbers changing every two seconds
    are not read out."""
    state = AnnouncementState(progress["state"])
    if state in _PLANNING:
        return "Working out who gets the announcement"
    if is_finished(progress):
        if state is AnnouncementState.CANCELLED:
            return "Cancelled: nothing more will be sent"
        return f"Sending finished: {through_words(progress)}"
    if state is AnnouncementState.CANCELLED:
        return "Cancelled: the messages being sent now finish, nothing more is sent"
    percent = progress["percent_through"] or 0
    quarter = {1: "a quarter", 2: "half", 3: "three quarters"}.get(min(percent // 25, 3))
    return f"Sending: {quarter} of the messages through" if quarter else "Sending started"


def clock_words(iso: str | None, tz: ZoneInfo) -> str:
    """A send time (ISO 8601) as the school reads it, to the second: "08:01:02 on Monday 7
    December"; "Not yet" for none."""
    if not iso:
        return "Not yet"
    local = datetime.fromisoformat(iso).astimezone(tz)
    return f"{local:%H:%M:%S} on {local:%A} {local.day} {local:%B}"


def audience_words(specs: list[str]) -> str:
    """Who the announcement was for, in words: "The whole school", "Year 6, Class 6B",
    "Reception", "2 named pupils"; the stored text when it cannot be read."""
    try:
        selectors = parse_audience(list(specs))
    except AudienceError:
        return ", ".join(specs)
    parts: list[str] = []
    pupils = 0
    for selector in selectors:
        if selector.kind == "school":
            parts.append("The whole school")
        elif selector.kind == "year":
            named = {"0": "Reception", "-1": "Nursery"}.get(selector.value)
            parts.append(named or f"Year {selector.value}")
        elif selector.kind == "student":
            pupils += 1
        else:
            parts.append(f"{selector.kind.capitalize()} {selector.value}")
    if pupils:
        parts.append(plural(pupils, "named pupil"))
    return ", ".join(parts)


def progress_view(progress: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Everything the page shows of the progress, in words, as the JSON the page's script
    reads every two seconds (and the template renders at first): the state, the bar
    (``percent``, ``percent_words``), each channel's columns, the first and last send, the
    milestone, and ``finished``."""
    channels = [
        {
            "channel": channel,
            "name": channel_words(channel),
            **{column: int(per[column]) for column in COLUMNS},
            "total": int(per["total"]),
        }
        for channel, per in progress["channels"].items()
    ]
    percent = progress["percent_through"]
    state_words, colour = STATE_WORDS[AnnouncementState(progress["state"])]
    return {
        "announcement_id": progress["announcement_id"],
        "state": str(progress["state"]),
        "state_words": state_words,
        "state_colour": colour,
        "percent": percent if percent is not None else 0,
        "percent_words": percent_words(progress),
        "through_words": through_words(progress),
        "channels": channels,
        "first_sent": clock_words(progress["first_sent_at"], tz),
        "last_sent": clock_words(progress["last_sent_at"], tz),
        "milestone": milestone(progress),
        "finished": is_finished(progress),
    }


#: States of a message that a cancel stops (not yet handed to a provider).
CANCELLABLE_STATES = ("pending", "held")
#: States of a message that is with a provider, or being handed to one: past recalling.
BEYOND_RECALL_STATES = ("sending", "sent", "delivered", "undelivered", "bounced")


def cancel_counts(states: Mapping[str, int]) -> tuple[int, int]:
    """From the announcement's messages by state: how many a cancel would stop, and how many
    are already sent (or being sent) and cannot be recalled."""
    stops = sum(states.get(state, 0) for state in CANCELLABLE_STATES)
    gone = sum(states.get(state, 0) for state in BEYOND_RECALL_STATES)
    return stops, gone


def cancel_refusal_words(field: str) -> str:
    """Why this account may not cancel, in plain words, from the field of
    ``access.roles.send_refusal``'s answer (the category's urgency, or a whole-school
    audience)."""
    if field.endswith("category"):
        return (
            "This is an urgent announcement. Only a senior or admin account can cancel it, "
            "and your account is an office account. Ask a senior colleague to cancel it."
        )
    if field.endswith("audience"):
        return (
            "This announcement went to the whole school. Only a senior or admin account can "
            "cancel it, and your account is an office account. Ask a senior colleague."
        )
    return "Your account cannot cancel announcements of this school."
