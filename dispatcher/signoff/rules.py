"""The rules of two-person sign-off, pure: which announcements need a second senior, who may
decide a request, and when the requester may send alone (break-glass). Time and facts are
arguments; nothing here reads a clock or a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatcher.access.roles import Requester, Role, send_refusal
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.sign_off import SignOffConfig, SignOffRule
from dispatcher.domain import SignOffState, Urgency


def sign_off_rule(sign_off: SignOffConfig, category: CategoryPolicy) -> SignOffRule:
    """The rule of ``category`` at a school with ``sign_off``: the category's own rule when
    the school names it, else the urgent default for urgent categories, else never."""
    named = sign_off.categories.get(category.name)
    if named is not None:
        return named
    return sign_off.urgent if category.urgency is Urgency.URGENT else SignOffRule.NEVER


def needs_sign_off(sign_off: SignOffConfig, category: CategoryPolicy, whole_school: bool) -> bool:
    """Whether an announcement of ``category`` (to the whole school or not) must be approved
    by a second senior before it is sent. By default: whole-school urgent announcements."""
    rule = sign_off_rule(sign_off, category)
    return rule is SignOffRule.ALWAYS or (rule is SignOffRule.WHOLE_SCHOOL and whole_school)


def break_glass_opens_at(sign_off: SignOffConfig, requested_at: datetime) -> datetime | None:
    """When the requester may send a request still waiting alone, or None: never (the
    school has no break-glass)."""
    minutes = sign_off.break_glass_after_minutes
    return None if minutes is None else requested_at + timedelta(minutes=minutes)


def may_break_glass(sign_off: SignOffConfig, requested_at: datetime, now: datetime) -> bool:
    """Whether break-glass is open at ``now`` for a request made at ``requested_at``."""
    opens = break_glass_opens_at(sign_off, requested_at)
    return opens is not None and now >= opens


@dataclass(frozen=True)
class RequestFacts:
    """What deciding a request depends on: its school (and trust), category, urgency,
    audience breadth, who asked and where it is now."""

    school: str
    school_trust: str | None
    category: str
    urgency: Urgency
    whole_school: bool
    requested_by: str
    state: SignOffState


def decision_refusal(decider: Requester, facts: RequestFacts) -> str | None:
    """Why ``decider`` may not approve or reject the request, in words for them, or None
    when they may: a senior or admin who could send it themselves, and not who asked."""
    if decider.name == facts.requested_by:
        return "You asked for this announcement, so someone else must approve it."
    if decider.role not in (Role.SENIOR, Role.ADMIN):
        return "Only a senior or admin account can approve or reject an announcement."
    refusal = send_refusal(
        decider,
        facts.school,
        facts.category,
        facts.urgency,
        facts.whole_school,
        facts.school_trust,
    )
    if refusal is not None:
        return "Your account does not act for this school, so it cannot decide this request."
    if facts.state is not SignOffState.WAITING:
        return "This request has already been decided."
    return None


def requester_refusal(person: Requester, facts: RequestFacts) -> str | None:
    """Why ``person`` may not withdraw the request or send it alone, or None when they may
    (they asked for it and it still waits)."""
    if person.name != facts.requested_by:
        return "Only the person who asked for this announcement can do that."
    if facts.state is not SignOffState.WAITING:
        return "This request has already been decided."
    return None
