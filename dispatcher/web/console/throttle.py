"""Sign-in attempts counted in Redis, per client address and per account (decision 0082).

Each attempt (a password or a code, right or wrong) counts in a fixed 15-minute window:
``DISPATCHER_CONSOLE_ATTEMPTS_PER_ADDRESS`` from one address (a school's office shares one
address, hence more than an account's), ``ATTEMPTS_PER_ACCOUNT`` for one email. Over
either, the attempt is refused before any password is checked. This is beside the
account's lockout (five failures in a row, ``dispatcher.access.lockout``): the limit slows
guessing across many accounts from one address, or one account from many, and costs the
server no Argon2 work. Keys hold SHA-256 digests, never an address or an email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final

import redis

#: The window each count lives for.
WINDOW_SECONDS: Final = 15 * 60
#: Attempts for one account (by email) in a window.
ATTEMPTS_PER_ACCOUNT: Final = 10
_PREFIX = "dispatcher:console:attempts:"


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"{_PREFIX}{kind}:{digest}"


class SignInThrottle:
    """Counts attempts; says whether one more is allowed."""

    def __init__(self, client: Callable[[], redis.Redis[Any]], per_address: int) -> None:
        self._client = client
        self.per_address = per_address

    def allow(self, address: str, account: str) -> bool:
        """Count an attempt from ``address`` for ``account`` (an email, or ``staff:<id>``);
        False when either is over its limit in the current window (the attempt is then
        refused unchecked)."""
        pipe = self._client().pipeline(transaction=True)
        for key in (_key("address", address), _key("account", account)):
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS, nx=True)
        by_address, _, by_account, _ = pipe.execute()
        return int(by_address) <= self.per_address and int(by_account) <= ATTEMPTS_PER_ACCOUNT
