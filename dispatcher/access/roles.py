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


class RequesterKind(StrEnum):
    """What kind of credential asks: the refusals' wording depends on it (decision 0095)."""

    #: An API token: refusals name it (``token 'office-demo'``), for the integrator.
    TOKEN = "token"
    #: A staff account in the console: refusals say "your account", for the person.
    ACCOUNT = "account"


class Requester(Protocol):
    """Who asks: an API token (``dispatcher.access.tokens.TokenInfo``) or a staff account
    (``dispatcher.access.staff.StaffInfo``)."""

    @property
    def name(self) -> str:
        """The name the audit log records."""
        ...

    @property
    def kind(self) -> RequesterKind:
        """A token or a staff account (how refusals address them)."""
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


def _subject(requester: Requester) -> str:
    if requester.kind is RequesterKind.ACCOUNT:
        return "your account"
    return f"token {requester.name!r}"


def _has_role(requester: Requester) -> str:
    if requester.kind is RequesterKind.ACCOUNT:
        return f"your account has the {requester.role.value} role"
    return f"token {requester.name!r} has role {requester.role.value}"


def school_refusal(token: Requester, school: str, school_trust: str | None = None) -> str | None:
    """Why ``token`` may not act for ``school`` (a member of ``school_trust``, None when it
    is in no trust), or None when it may. A school token acts for its school only, a trust
    token for the trust's member schools, a token with neither for every school."""
    if token.school is not None and token.school != school:
        return f"{_subject(token)} is for school {token.school!r}, not {school!r}"
    if token.school is None and token.trust is not None and token.trust != school_trust:
        return f"{_subject(token)} is for the schools of trust {token.trust!r}, not {school!r}"
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
    is the trust ``school`` belongs to (None: none). The reason names a token
    (``token 'office-demo' has role office``) and addresses a staff account ("your account
    has the office role"): same rules, the words of who reads them."""
    refusal = school_refusal(token, school, school_trust)
    if refusal is not None:
        return "body.school", refusal
    if token.role is Role.OFFICE:
        if urgency is Urgency.URGENT:
            return (
                "body.category",
                f"{category} is an urgent category: it needs a senior or admin "
                f"{token.kind.value}, and {_has_role(token)}",
            )
        if whole_school:
            return (
                "body.audience",
                f"a whole-school announcement needs a senior or admin {token.kind.value}, "
                f"and {_has_role(token)}",
            )
    return None


def may_act_for(requester: Requester, school: str, school_trust: str | None = None) -> bool:
    """Whether ``requester`` acts for ``school`` (a member of ``school_trust``): what the
    console shows them is the schools for which this is true."""
    return school_refusal(requester, school, school_trust) is None
