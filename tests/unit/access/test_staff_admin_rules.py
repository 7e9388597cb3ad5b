"""The pure rules of account management: whose accounts an admin manages, that nobody
disables themselves, mobile numbers, and refusals worded for a person or for a token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatcher.access.roles import Role, school_refusal, send_refusal
from dispatcher.access.staff import StaffError, StaffInfo, normalise_mobile
from dispatcher.access.staff_admin import Change, change_refusal, manage_refusal, scope_covers
from dispatcher.access.tokens import TokenInfo
from dispatcher.domain import Urgency

NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)


def account(
    id_: int = 1, role: Role = Role.ADMIN, school: str | None = "demo", trust: str | None = None
) -> StaffInfo:
    return StaffInfo(id_, f"p{id_}@demo.example.org", role, school, trust, False, NOW, None, None)


@pytest.mark.parametrize(
    ("manager", "school", "trust", "school_trust", "covered"),
    [
        (account(school="demo"), "demo", None, None, True),
        (account(school="demo"), "brockmoor", None, None, False),
        (account(school="demo"), None, "sendat", None, False),
        (account(school="demo"), None, None, None, False),
        (account(school=None, trust="sendat"), "sendat-a", None, "sendat", True),
        (account(school=None, trust="sendat"), "brockmoor", None, "dudley-la", False),
        (account(school=None, trust="sendat"), None, "sendat", None, True),
        (account(school=None, trust="sendat"), None, "other", None, False),
        (account(school=None, trust="sendat"), None, None, None, False),
        (account(school=None), "brockmoor", None, None, True),
        (account(school=None), None, "sendat", None, True),
        (account(school=None), None, None, None, True),
    ],
)
def test_an_admin_scope_covers_only_scopes_inside_it(
    manager: StaffInfo, school: str | None, trust: str | None, school_trust: str | None,
    covered: bool,
) -> None:  # fmt: skip
    assert scope_covers(manager, school, trust, school_trust) is covered


def test_only_an_admin_manages_and_only_within_their_scope() -> None:
    target = account(2, Role.OFFICE, school="brockmoor")
    refusal = manage_refusal(account(school="demo"), target, None)
    assert refusal is not None and "school brockmoor" in refusal and "school demo" in refusal
    assert manage_refusal(account(school=None), target, None) is None
    senior = manage_refusal(account(role=Role.SENIOR, school=None), target, None)
    assert senior is not None and "admin role" in senior


def test_nobody_disables_themselves_but_may_change_the_rest_of_their_account() -> None:
    me = account(1)
    assert change_refusal(me, me, Change.DISABLE) is not None
    assert change_refusal(me, me, Change.RESET_PASSWORD) is None
    assert change_refusal(me, account(2), Change.DISABLE) is None


def test_a_mobile_number_is_kept_as_e164_and_a_landline_is_refused() -> None:
    assert normalise_mobile("07700 900123") == "+447700900123"
    assert normalise_mobile("+44 7911 123456") == "+447911123456"
    for bad in ("01632 960000", "0114 496 0000", "not a number", "0791"):
        with pytest.raises(StaffError) as caught:
            normalise_mobile(bad)
        assert caught.value.field == "phone" and bad not in caught.value.message


def test_refusals_address_a_person_and_name_a_token_with_the_same_rules() -> None:
    person = account(7, Role.OFFICE, school="demo")
    token = TokenInfo(7, "office-demo", Role.OFFICE, "demo", NOW, None, None)
    for who, expected in ((person, "your account has the office role"),
                          (token, "token 'office-demo' has role office")):  # fmt: skip
        urgent = send_refusal(who, "demo", "emergency_closure", Urgency.URGENT, False)
        whole = send_refusal(who, "demo", "newsletter", Urgency.NORMAL, True)
        assert urgent is not None and urgent[0] == "body.category" and expected in urgent[1]
        assert whole is not None and whole[0] == "body.audience" and expected in whole[1]
    assert "senior or admin account" in str(
        send_refusal(person, "demo", "x", Urgency.URGENT, False)
    )
    assert "senior or admin token" in str(send_refusal(token, "demo", "x", Urgency.URGENT, False))
    assert (
        school_refusal(person, "brockmoor") == "your account is for school 'demo', not 'brockmoor'"
    )
    assert school_refusal(token, "brockmoor") == (
        "token 'office-demo' is for school 'demo', not 'brockmoor'"
    )
    assert "staff:7" not in str(send_refusal(person, "brockmoor", "x", Urgency.URGENT, True))
