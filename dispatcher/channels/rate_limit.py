"""A per-provider-account request rate, shared by every worker process through Redis.

Fifty schools on one Twilio account share that account's limit, whichever worker process
sends for them. ``ProviderRateLimiter`` keeps, per account, a log in Redis of when each
request was let through (a sorted set scored by Redis's own clock, in microseconds) and
admits a request only while fewer than ``per_second`` entries lie within the last window.
One Lua script reads the clock, forgets entries older than the window, counts and records,
atomically: two processes can never both take the last place, and no process's clock matters.

**Any sliding second, not calendar seconds.** Providers (and the emulator) count requests in
any one-second interval, so a limiter that admits ``limit`` per calendar second can let twice
the limit through around a second's boundary; a sliding log cannot. The window is
``1000 + margin_ms`` milliseconds: ``margin_ms`` (default 100) absorbs the varying time
between taking a place and the request reaching the provider (a new connection, a busy CPU),
at the price of a sustained rate a little under the limit (about 45/s for a limit of 50).

``acquire()`` blocks, sleeping until the oldest entry leaves the window (plus a few
milliseconds of jitter, so that waiting processes do not all wake at once), until it gets a
place or ``max_wait`` seconds pass; then it raises ``TransientFailure("rate_limited",
retry_after=1)`` and the delivery is retried later. Redis being unreachable is also a
``TransientFailure``.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from typing import Any, Final, Protocol

import redis

from dispatcher.channels.base import TransientFailure

KEY_PREFIX: Final = "dispatcher:provider-rate"
_JITTER_MS: Final = 4.0

#: KEYS[1]: the account's log. ARGV: limit, window (µs), a unique id for this request.
#: Returns 0 when the request may go, else the microseconds until a place frees up.
_ADMIT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimit(Protocol):
    """What an adapter needs from a limiter: one blocking ``acquire`` per HTTP request."""

    def acquire(self) -> None:
        """Return once one request may be sent, or raise ``TransientFailure``."""


def account_key(provider: str, account_id: str) -> str:
    """The Redis key of ``provider``'s ``account_id``; the account id is hashed, so a key
    never shows a credential (SendGrid's account is only known by its API key)."""
    digest = hashlib.sha256(account_id.encode()).hexdigest()[:16]
    return f"{KEY_PREFIX}:{provider}:{digest}"


class ProviderRateLimiter:
    """At most ``per_second`` requests in any one second to one provider account, across all
    processes that share the Redis server of ``redis_client``.

    ``account_id`` names the account (hashed into the Redis key); ``max_wait`` is how long
    ``acquire`` may block; ``margin_ms`` see the module docstring.
    """

    def __init__(
        self,
        redis_client: redis.Redis[Any],
        provider: str,
        account_id: str,
        per_second: int,
        *,
        max_wait: float = 5.0,
        margin_ms: int = 100,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1 request per second")
        if margin_ms < 0:
            raise ValueError("margin_ms must not be negative")
        self.provider = provider
        self.per_second = per_second
        self.max_wait = max_wait
        self.window_ms = 1000 + margin_ms
        self.key = account_key(provider, account_id)
        self._admit = redis_client.register_script(_ADMIT)

    def __repr__(self) -> str:
        return (
            f"ProviderRateLimiter(provider={self.provider!r}, per_second={self.per_second}, "
            f"window_ms={self.window_ms})"
        )

    def _try(self) -> float:
        """0 if a place was taken, else the seconds until one may free up."""
        try:
            wait_us = self._admit(
                keys=[self.key],
                args=[self.per_second, self.window_ms * 1000, uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            raise TransientFailure(
                "rate_limiter_unavailable", f"{self.provider}: the rate limiter's Redis failed"
            ) from exc
        return int(wait_us) / 1_000_000

    def try_acquire(self) -> bool:
        """Take a place in the current window if one is left; never waits."""
        return self._try() == 0

    def acquire(self) -> None:
        """Return once this process may send one request; raise
        ``TransientFailure("rate_limited", retry_after=1)`` after ``max_wait`` seconds."""
        deadline = time.monotonic() + self.max_wait
        while True:
            wait = self._try()
            if wait == 0:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientFailure(
                    "rate_limited",
                    f"{self.provider}: no send slot within {self.max_wait:g}s "
                    f"({self.per_second}/s)",
                    retry_after=1.0,
                )
            pause = wait + random.uniform(0.0, _JITTER_MS) / 1000.0
            time.sleep(min(max(pause, 0.001), remaining))
