"""What the sign-off page offers each person, pure: the requester's withdraw and
break-glass, another senior's decision, the words of each state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from dispatcher.access.roles import Role
from dispatcher.config.sign_off import SignOffConfig
from dispatcher.domain import SignOffState
from dispatcher.store.sign_offs import SignOffRow
from dispatcher.web.console.sign_off_view import Labels, request_view
from tests.unit.signoff.test_rules import ASKED, Person, facts

ROW = SignOffRow(
    id=12,
    school_id=1,
    school_slug="demo",
    category="emergency_closure",
    request={"audience": ["school"]},
    requested_by_id=1,
    requested_at=ASKED,
    state=SignOffState.WAITING,
    decided_by_id=None,
    decided_at=None,
    reason=None,
    announcement_id=None,
)
LABELS = Labels("Demo Primary School", "Emergency closure", "The school is closed.", {1: "head"})
TEN = SignOffConfig(break_glass_after_minutes=10)


def test_the_requester_may_withdraw_and_break_glass_once_the_delay_has_passed() -> None:
    head = Person(1, Role.SENIOR)
    early = request_view(ROW, facts(), head, TEN, ASKED + timedelta(minutes=5), LABELS)
    assert early.may_withdraw and not early.may_break_glass and not early.may_decide
    assert early.break_glass_from == "08 Dec 2026 06:55 UTC"
    late = request_view(ROW, facts(), head, TEN, ASKED + timedelta(minutes=10), LABELS)
    assert late.may_break_glass
    never = request_view(ROW, facts(), head, SignOffConfig(), ASKED + timedelta(days=1), LABELS)
    assert not never.may_break_glass and never.break_glass_from == ""
    assert early.title == "Emergency closure to the whole school"
    assert early.category == "Emergency closure: The school is closed."


def test_another_senior_may_decide_and_an_office_user_is_told_why_not() -> None:
    deputy = request_view(ROW, facts(), Person(5, Role.SENIOR), TEN, ASKED, LABELS)
    assert deputy.may_decide and not deputy.may_withdraw and deputy.why_not is None
    office = request_view(ROW, facts(), Person(2, Role.OFFICE), TEN, ASKED, LABELS)
    assert not office.may_decide and "senior or admin" in (office.why_not or "")


def test_a_rejected_request_shows_its_reason_and_no_buttons() -> None:
    rejected = replace(
        ROW, state=SignOffState.REJECTED, decided_by_id=5, decided_at=ASKED, reason="No snow"
    )
    view = request_view(
        rejected, facts(SignOffState.REJECTED), Person(1, Role.SENIOR), TEN, ASKED, LABELS
    )
    assert view.state == "Rejected: not sent" and view.reason == "No snow"
    assert not (view.may_decide or view.may_withdraw or view.may_break_glass)
    assert view.why_not is None and view.decided_by == "staff:5"
