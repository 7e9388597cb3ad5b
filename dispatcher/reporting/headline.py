"""The first lines of an announcement's report, in the office's words: where it is and what
that means for families, e.g. "done: 819 messages handed to providers, 2 families not
reached". Pure: it reads the report's dictionary (``reports.announcement_report``).

Each line is one function's job, listed in ``HEADLINE_LINES``: a new fact for the top of the
report (say, that the messages only went to the outbox) is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Report = Mapping[str, Any]


def plural(n: int, one: str, many: str | None = None) -> str:
    """``"1 family"``, ``"2 families"``: ``n`` and the word that goes with it."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _where_it_is(report: Report) -> str | None:
    handed = plural(int(report.get("messages_handed_to_providers", 0)), "message")
    families = plural(int(report.get("families_not_reached", 0)), "family", "families")
    state = report.get("state", "")
    if state in ("received", "planning"):
        return f"{state}: the audience is still being worked out; {handed} handed to providers"
    if state == "cancelled":
        return f"cancelled: {handed} handed to providers before the cancel, {families} not reached"
    return f"{state}: {handed} handed to providers, {families} not reached"


def _still_to_send(report: Report) -> str | None:
    if report.get("state") != "sending":
        return None
    waiting = report.get("still_to_send") or {}
    parts = []
    if waiting.get("now"):
        parts.append(f"{plural(int(waiting['now']), 'message')} being sent")
    if waiting.get("held"):
        until = waiting.get("held_until_local") or waiting.get("held_until")
        when = f" until {until}" if until else ""
        parts.append(f"{plural(int(waiting['held']), 'message')} waiting for the send window{when}")
    return "still to go: " + ", ".join(parts) if parts else None


#: The headline's lines, in order; each returns its line, or None to leave it out.
HEADLINE_LINES: list[Callable[[Report], str | None]] = [_where_it_is, _still_to_send]


def report_headline(report: Report) -> list[str]:
    """The lines at the top of the report of ``report`` (each of ``HEADLINE_LINES`` that
    has something to say)."""
    return [line for build in HEADLINE_LINES if (line := build(report))]
