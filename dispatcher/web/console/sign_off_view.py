"""What the sign-off pages show, in the office's words: a request's state, what it is for,
who asked, and which buttons the person looking at it has. Pure: the facts and the time
are arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.access.roles import Requester
from dispatcher.audience import parse_audience
from dispatcher.config.sign_off import SignOffConfig
from dispatcher.domain import SignOffState
from dispatcher.signoff.rules import (
    RequestFacts,
    break_glass_opens_at,
    decision_refusal,
    may_break_glass,
    requester_refusal,
)
from dispatcher.signoff.wording import audience_words
from dispatcher.store.sign_offs import SignOffRow

#: Each state in the office's words, and the colour of its tag (govuk-tag modifiers).
STATE_WORDS: dict[SignOffState, tuple[str, str]] = {
    SignOffState.WAITING: ("Waiting for a second senior", "yellow"),
    SignOffState.APPROVED: ("Approved and sent", "green"),
    SignOffState.REJECTED: ("Rejected: not sent", "red"),
    SignOffState.WITHDRAWN: ("Withdrawn: not sent", "grey"),
    SignOffState.BROKE_GLASS: ("Sent without sign-off (break-glass)", "orange"),
}


def when(moment: datetime | None) -> str:
    """A time as the pages show it: ``08 Dec 2026 06:45 UTC``."""
    return "" if moment is None else f"{moment:%d %b %Y %H:%M} UTC"


@dataclass(frozen=True)
class RequestView:
    """One request as a page shows it to one person."""

    id: int
    school: str
    category: str
    audience: str
    state: str
    colour: str
    requested_at: str
    requested_by: str
    decided_by: str
    decided_at: str
    reason: str | None
    announcement_id: int | None
    is_requester: bool
    may_decide: bool
    #: Why the person may not decide it (shown instead of the buttons), or None.
    why_not: str | None
    may_withdraw: bool
    may_break_glass: bool
    #: When break-glass opens for the requester, while it waits ("" when never).
    break_glass_from: str
    waiting: bool

    #: The request in a few words: ``Emergency closure to the whole school``.
    title: str


@dataclass(frozen=True)
class Labels:
    """The names a request's page shows: its school, its category (and what the policy
    says it is for), and the accounts involved by id (their email: shown to staff only)."""

    school: str
    category: str
    category_description: str
    people: dict[int, str]


def request_view(
    row: SignOffRow,
    facts: RequestFacts,
    viewer: Requester,
    sign_off: SignOffConfig,
    now: datetime,
    labels: Labels,
) -> RequestView:
    """``row`` as ``viewer`` sees it at ``now``, named with ``labels``."""
    people = labels.people
    audience = audience_words(parse_audience(list(row.request.get("audience", []))))
    words, colour = STATE_WORDS[row.state]
    is_requester = viewer.name == row.requested_by
    refusal = decision_refusal(viewer, facts)
    waiting = row.state is SignOffState.WAITING
    may_withdraw = requester_refusal(viewer, facts) is None
    opens = break_glass_opens_at(sign_off, row.requested_at)
    return RequestView(
        id=row.id,
        school=labels.school,
        category=f"{labels.category}: {labels.category_description}"
        if labels.category_description
        else labels.category,
        audience=audience,
        state=words,
        colour=colour,
        requested_at=when(row.requested_at),
        requested_by=people.get(row.requested_by_id, row.requested_by),
        decided_by=""
        if row.decided_by_id is None
        else people.get(row.decided_by_id, f"staff:{row.decided_by_id}"),
        decided_at=when(row.decided_at),
        reason=row.reason if row.state is SignOffState.REJECTED else None,
        announcement_id=row.announcement_id,
        is_requester=is_requester,
        may_decide=refusal is None,
        why_not=None if refusal is None or not waiting else refusal,
        may_withdraw=may_withdraw,
        may_break_glass=may_withdraw and may_break_glass(sign_off, row.requested_at, now),
        break_glass_from=when(opens) if opens is not None and waiting else "",
        waiting=waiting,
        title=f"{labels.category} to {audience}",
    )
