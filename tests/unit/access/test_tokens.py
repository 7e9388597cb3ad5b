"""API tokens: hashing, roles and the permission rules (pure)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from dispatcher.access.roles import Role, school_refusal, send_refusal
from dispatcher.access.tokens import TokenError, TokenInfo, generate_token, hash_token, parse_role
from dispatcher.domain import Urgency


def token(role: Role, school: str | None = "demo") -> TokenInfo:
    return TokenInfo(1, f"{role.value}-token", role, school, datetime.now(UTC), None, None)


def test_tokens_are_random_prefixed_and_stored_as_sha256_hex() -> None:
    first, second = generate_token(), generate_token()
    assert first != second
    assert first.startswith("dsp_") and len(first) >= 40
    assert hash_token(first) == hashlib.sha256(first.encode()).hexdigest()
    assert len(hash_token(first)) == 64 and first not in hash_token(first)


def test_roles_are_parsed_or_refused_naming_the_option() -> None:
    assert parse_role(" Senior ") is Role.SENIOR
    with pytest.raises(TokenError) as caught:
        parse_role("headteacher")
    assert caught.value.field == "role"
    assert "office, senior or admin" in str(caught.value)


@pytest.mark.parametrize(
    ("role", "urgency", "whole_school", "refused_field"),
    [
        (Role.OFFICE, Urgency.NORMAL, False, None),
        (Role.OFFICE, Urgency.BULK, False, None),
        (Role.OFFICE, Urgency.URGENT, False, "body.category"),
        (Role.OFFICE, Urgency.NORMAL, True, "body.audience"),
        (Role.OFFICE, Urgency.URGENT, True, "body.category"),
        (Role.SENIOR, Urgency.URGENT, True, None),
        (Role.SENIOR, Urgency.NORMAL, True, None),
        (Role.ADMIN, Urgency.URGENT, True, None),
    ],
)
def test_what_each_role_may_send(
    role: Role, urgency: Urgency, whole_school: bool, refused_field: str | None
) -> None:
    refusal = send_refusal(token(role), "demo", "some_category", urgency, whole_school)
    assert (refusal[0] if refusal else None) == refused_field
    if refusal:
        assert "senior or admin" in refusal[1]


def test_a_school_token_is_limited_to_its_school_and_a_trust_token_is_not() -> None:
    assert school_refusal(token(Role.ADMIN, "demo"), "demo") is None
    refusal = school_refusal(token(Role.ADMIN, "demo"), "brockmoor")
    assert refusal is not None and "brockmoor" in refusal
    assert school_refusal(token(Role.OFFICE, None), "brockmoor") is None
    sent = send_refusal(token(Role.SENIOR, "demo"), "brockmoor", "x", Urgency.NORMAL, False)
    assert sent is not None and sent[0] == "body.school"


def test_a_trust_token_is_limited_to_the_trusts_member_schools() -> None:
    sendat = TokenInfo(2, "sendat-senior", Role.SENIOR, None, datetime.now(UTC), None, None,
                       trust="sendat")  # fmt: skip
    assert sendat.scope == "trust sendat"
    assert school_refusal(sendat, "sendat-a", "sendat") is None
    refusal = school_refusal(sendat, "brockmoor", "dudley-la")
    assert refusal is not None and "trust 'sendat'" in refusal and "brockmoor" in refusal
    # A school whose trust is unknown is refused: a trust token never guesses.
    assert school_refusal(sendat, "sendat-b") is not None
    sibling = send_refusal(
        token(Role.SENIOR, "sendat-a"), "sendat-b", "x", Urgency.URGENT, True, "sendat"
    )
    assert sibling is not None and sibling[0] == "body.school"
    assert token(Role.SENIOR, None).scope == "every school"
