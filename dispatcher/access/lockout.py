"""When a staff account is locked after failed sign-ins: pure, from the facts it is given.

Five wrong passwords (or codes) in a row lock the account for 15 minutes; a sign-in that
succeeds resets the count. A locked account is refused even with the right password, and
the refusal reads the same as a wrong password's (nothing tells an attacker which).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

#: Failures in a row that lock the account.
LOCK_AFTER_FAILURES: Final = 5
#: How long a lock lasts.
LOCK_DURATION: Final = timedelta(minutes=15)


@dataclass(frozen=True)
class AfterFailure:
    """An account's count and lock after one more failure."""

    failed_attempts: int
    locked_until: datetime | None
    #: Whether this failure is the one that locked it (log and audit it).
    locked_now: bool


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether an account locked until ``locked_until`` is still locked at ``now``."""
    return locked_until is not None and now < locked_until


def after_failure(
    failed_attempts: int, locked_until: datetime | None, now: datetime
) -> AfterFailure:
    """The count and lock after a failed attempt at ``now``: the count starts again once a
    lock has run out; the fifth failure in a row locks for ``LOCK_DURATION``."""
    if locked_until is not None and not is_locked(locked_until, now):
        failed_attempts = 0
    count = failed_attempts + 1
    if is_locked(locked_until, now):
        return AfterFailure(count, locked_until, locked_now=False)
    if count >= LOCK_AFTER_FAILURES:
        return AfterFailure(count, now + LOCK_DURATION, locked_now=True)
    return AfterFailure(count, None, locked_now=False)
