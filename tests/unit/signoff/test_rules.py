"""The pure rules of sign-off: which announcements need a second senior, who may decide,
when break-glass opens; and the words of the notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.access.roles import RequesterKind, Role
from dispatcher.audience import parse_audience
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.sign_off import SignOffConfig, SignOffRule
from dispatcher.domain import Channel, SignOffState, Urgency
from dispatcher.signoff.rules import (
    RequestFacts,
    break_glass_opens_at,
    decision_refusal,
    may_break_glass,
    needs_sign_off,
    requester_refusal,
)
from dispatcher.signoff.wording import audience_words, sign_off_link, sign_off_notice

CLOSURE = CategoryPolicy(name="emergency_closure", urgency=Urgency.URGENT, channels=(Channel.SMS,))
TRIP = CategoryPolicy(name="trip_letter", urgency=Urgency.NORMAL, channels=(Channel.EMAIL,))
ASKED = datetime(2026, 12, 8, 6, 45, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    id: int
    role: Role
    school: str | None = "demo"
    trust: str | None = None

    @property
    def name(self) -> str:
        return f"staff:{self.id}"

    @property
    def kind(self) -> RequesterKind:
        return RequesterKind.ACCOUNT


def facts(state: SignOffState = SignOffState.WAITING) -> RequestFacts:
    return RequestFacts(
        "demo", "demo-trust", "emergency_closure", Urgency.URGENT, True, "staff:1", state
    )


def test_by_default_whole_school_urgent_announcements_need_a_second_senior() -> None:
    default = SignOffConfig()
    assert needs_sign_off(default, CLOSURE, whole_school=True)
    assert not needs_sign_off(default, CLOSURE, whole_school=False)
    assert not needs_sign_off(default, TRIP, whole_school=True)


def test_a_school_sets_the_rule_per_category() -> None:
    school = SignOffConfig(urgent=SignOffRule.NEVER, categories={"trip_letter": SignOffRule.ALWAYS})
    assert not needs_sign_off(school, CLOSURE, whole_school=True)
    assert needs_sign_off(school, TRIP, whole_school=False)


def test_break_glass_is_off_unless_configured_and_opens_after_n_minutes() -> None:
    assert break_glass_opens_at(SignOffConfig(), ASKED) is None
    assert not may_break_glass(SignOffConfig(), ASKED, ASKED + timedelta(days=1))
    ten = SignOffConfig(break_glass_after_minutes=10)
    assert not may_break_glass(ten, ASKED, ASKED + timedelta(minutes=9, seconds=59))
    assert may_break_glass(ten, ASKED, ASKED + timedelta(minutes=10))


@pytest.mark.parametrize(
    ("person", "refused"),
    [
        (Person(1, Role.SENIOR), "someone else must approve"),
        (Person(2, Role.OFFICE), "Only a senior or admin"),
        (Person(3, Role.SENIOR, school="brockmoor"), "does not act for this school"),
        (Person(4, Role.ADMIN, school=None, trust="other-trust"), "does not act for this school"),
        (Person(5, Role.SENIOR), None),
        (Person(6, Role.ADMIN, school=None, trust="demo-trust"), None),
    ],
)
def test_who_may_decide(person: Person, refused: str | None) -> None:
    refusal = decision_refusal(person, facts())
    assert (refusal is None) if refused is None else (refused in (refusal or ""))


def test_a_decided_request_is_decided_and_only_the_requester_withdraws() -> None:
    assert "already been decided" in (
        decision_refusal(Person(5, Role.SENIOR), facts(SignOffState.APPROVED)) or ""
    )
    assert requester_refusal(Person(1, Role.SENIOR), facts()) is None
    assert requester_refusal(Person(5, Role.SENIOR), facts()) is not None


def test_the_notice_names_the_school_the_ask_and_the_link_but_no_person() -> None:
    notice = sign_off_notice(
        "Demo Primary School",
        Role.SENIOR,
        "emergency_closure",
        parse_audience(["school"]),
        sign_off_link("https://messages.example.org/", 7),
    )
    assert notice.text == (
        "Demo Primary School: a senior asks you to approve an emergency closure to the "
        "whole school. Open https://messages.example.org/sign-off/7"
    )
    assert "https://messages.example.org/sign-off/7" in notice.email_body
    assert sign_off_link(None, 7) == "the console, Sign-off, request 7"


def test_audience_in_words() -> None:
    assert audience_words(parse_audience(["year:6", "class:5B"])) == "year 6 and class 5B"
    assert audience_words(parse_audience(["student:A1", "student:B2"])) == "2 named pupils"
    assert audience_words(parse_audience(["year:R"])) == "reception"
