"""What each role may do, for API tokens and staff accounts alike: one set of rules.

- ``office``: send ``normal`` and ``bulk`` categories to part of its school (a year, a class,
  a group, named students);
- ``senior``: also ``urgent`` categories and whole-school announcements;
- ``admin``: whatever ``senior`` may do; manages tokens and staff accounts.

Senior and admin staff accounts also sign in with a second factor
(``dispatcher.access.second_factor``).

Pure functions of who asks and what they ask for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from dispatcher.domain import Urgency


class Role(StrEnum):
    """What a token or a staff account may do."""

    OFFICE = "office"
    SENIOR = "senior"
    ADMIN = "admin"


class Requester(Protocol):
    """Who asks: an API token (``dispatcher.access.tokens.TokenInfo``) or a staff account
    (``dispatcher.access.staff.StaffInfo``)."""

    @property
    def name(self) -> str:
        """The name the audit log records."""
        ...

    @property
    def role(self) -> Role:
        """What they may do."""
        ...

    @property
    def school(self) -> str | None:
        """The one school they act for, or None (a trust's schools, or every school)."""
        ...

    @property
    def trust(self) -> str | None:
        """The trust whose member schools they act for, or None (decision 0073)."""
        ...


def school_refusal(token: Requester, school: str, school_trust: str | None = None) -> str | None:
    """Why ``token`` may not act for ``school`` (a member of ``school_trust``, None when it
    is in no trust), or None when it may. A school token acts for its school only, a trust
    token for the trust's member schools, a token with neither for every school."""
    if token.school is not None and token.school != school:
        return f"token {token.name!r} is for school {token.school!r}, not {school!r}"
    if token.school is None and token.trust is not None and token.trust != school_trust:
        return f"token {token.name!r} is for the schools of trust {token.trust!r}, not {school!r}"
    return None


def send_refusal(
    token: Requester,
    school: str,
    category: str,
    urgency: Urgency,
    whole_school: bool,
    school_trust: str | None = None,
) -> tuple[str, str] | None:
    """Why ``token`` may not send (or cancel) this announcement, as ``(field, reason)``, or
    None when it may. ``field`` is the request field the refusal is about; ``school_trust``
    is the trust ``school`` belongs to (None: none)."""
    refusal = school_refusal(token, school, school_trust)
    if refusal is not None:
        return "body.school", refusal
    if token.role is Role.OFFICE:
        if urgency is Urgency.URGENT:
            return (
                "body.category",
                f"{category} is an urgent category: it needs a senior or admin token, "
                f"and token {token.name!r} has role office",
            )
        if whole_school:
            return (
                "body.audience",
                "a whole-school announcement needs a senior or admin token, "
                f"and token {token.name!r} has role office",
            )
    return None


def may_act_for(requester: Requester, school: str, school_trust: str | None = None) -> bool:
    """Whether ``requester`` acts for ``school`` (a member of ``school_trust``): what the
    console shows them is the schools for which this is true."""
    return school_refusal(requester, school, school_trust) is None
