"""The pure rules of staff sign-in: passwords, the lockout, TOTP codes, masked emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp

from dispatcher.access.lockout import LOCK_DURATION, after_failure, is_locked
from dispatcher.access.passwords import (
    hash_password,
    password_matches,
    password_problem,
)
from dispatcher.access.roles import Role
from dispatcher.access.second_factor import (
    matching_step,
    new_secret,
    provisioning_uri,
    qr_code_svg,
    second_factor_required,
)
from dispatcher.access.staff import mask_email

NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)


def test_a_password_needs_twelve_characters_and_not_a_common_one() -> None:
    assert password_problem("short pass") is not None
    assert password_problem("a" * 12) is not None
    assert password_problem("Password1234") is not None
    assert password_problem("x" * 257) is not None
    assert password_problem("correct horse battery staple") is None


def test_a_stored_hash_matches_only_its_password_and_no_account_matches_nothing() -> None:
    stored = hash_password("correct horse battery staple")
    assert "correct horse" not in stored
    assert password_matches(stored, "correct horse battery staple")
    assert not password_matches(stored, "correct horse battery stapler")
    assert not password_matches(None, "correct horse battery staple")
    assert not password_matches("not a hash", "anything at all here")


def test_the_fifth_failure_in_a_row_locks_for_fifteen_minutes() -> None:
    count, locked_until = 0, None
    for _ in range(4):
        failure = after_failure(count, locked_until, NOW)
        count, locked_until = failure.failed_attempts, failure.locked_until
        assert locked_until is None and not failure.locked_now
    fifth = after_failure(count, locked_until, NOW)
    assert fifth.locked_now and fifth.locked_until == NOW + LOCK_DURATION
    assert is_locked(fifth.locked_until, NOW + LOCK_DURATION - timedelta(seconds=1))
    assert not is_locked(fifth.locked_until, NOW + LOCK_DURATION)
    # A failure while locked keeps the lock as it was; after it, the count starts again.
    during = after_failure(fifth.failed_attempts, fifth.locked_until, NOW + timedelta(minutes=1))
    assert during.locked_until == fifth.locked_until and not during.locked_now
    after = after_failure(fifth.failed_attempts, fifth.locked_until, NOW + LOCK_DURATION)
    assert (after.failed_attempts, after.locked_until) == (1, None)


def test_a_code_is_accepted_once_and_one_step_either_side() -> None:
    secret = new_secret()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(NOW)
    assert matching_step(secret, totp.at(NOW), NOW, None) == step
    assert matching_step(secret, totp.at(NOW), NOW, step) is None  # replayed
    assert matching_step(secret, totp.at(NOW - timedelta(seconds=30)), NOW, None) == step - 1
    assert matching_step(secret, totp.at(NOW + timedelta(seconds=30)), NOW, step) == step + 1
    assert matching_step(secret, totp.at(NOW + timedelta(minutes=2)), NOW, None) is None
    assert matching_step(secret, "12345", NOW, None) is None
    assert matching_step(secret, "abcdef", NOW, None) is None


def test_senior_and_admin_need_the_second_factor_office_does_not() -> None:
    assert [second_factor_required(r) for r in Role] == [False, True, True]


def test_the_enrolment_qr_code_is_an_inline_image_of_the_otpauth_uri() -> None:
    uri = provisioning_uri(new_secret(), "head@demo.example.org")
    assert uri.startswith("otpauth://totp/School%20messages:head%40demo.example.org?secret=")
    svg = qr_code_svg(uri, "QR code")
    assert svg.startswith('<svg role="img" ') and "<title>QR code</title>" in svg
    assert "http" not in svg


def test_a_masked_email_keeps_its_first_letter_and_domain() -> None:
    assert mask_email("office@demo.example.org") == "o***@demo.example.org"
    assert mask_email("nonsense") == "***"
