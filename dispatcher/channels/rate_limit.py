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

**Urgent requests take the limit first.** ``acquire(urgent=True)`` (an emergency closure)
that finds the account full writes a *claim* into a second sorted set per account, the
urgent waiters, scored by when the claim expires; every try of a live waiter renews it. While
any unexpired claim is there, no other request takes a place on that account: the same
script that admits checks it, atomically, so a newsletter's request can never slip in
between an urgent waiter's tries. An urgent request that got its place also leaves a short
*hold* (``urgent_hold_ms``, 1 s): between one urgent message and the next a worker thread
commits its batch and claims the next one, and the newsletter must not take those gaps.
A claim lives ``claim_ttl_ms`` (3 s) unless renewed, so a process killed while waiting
blocks the others for at most that long; an urgent request that gives up removes its claim.

A request that yields to urgent work keeps waiting without that time counting towards
``max_wait`` (a newsletter is not failing while an emergency goes out, and its deliveries
must not use up their attempts). It yields for at most ``max_yield`` seconds (240) per
thread and urgent episode: a worker thread holds its batch's deliveries ``sending`` while it
waits, and Dramatiq's time limit (5 min) and the recovery sweep's grace period (300 s) must
not run out meanwhile. After that the thread's requests compete with the urgent ones as
equals, until it next finds no urgent request waiting. An emergency of 10,000 texts at
50 a second lasts 200 s, within the default.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
import uuid
from typing import Any, Final, Protocol

import redis

from dispatcher.channels.base import TransientFailure

KEY_PREFIX: Final = "dispatcher:provider-rate"
_JITTER_MS: Final = 4.0

#: What a try answered (the first element of the script's reply).
ADMITTED: Final = 0
FULL: Final = 1
YIELDED: Final = 2

#: KEYS[1]: the account's log; KEYS[2]: its urgent claims. ARGV: limit, window (µs), a
#: unique id for this request, 1 if it is urgent, the claim's life (µs), the hold (µs), 1 if
#: a non-urgent request should yield to urgent claims.
#: Returns {ADMITTED | FULL | YIELDED, µs until a place may free up, urgent claims left}.
_ADMIT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[2])
local urgent = ARGV[4] == '1'
local ttl = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local function until_free()
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if oldest[2] == nil then return 1000 end
  return math.max(1, tonumber(oldest[2]) + window - now)
end
local function expire_claims()
  redis.call('PEXPIRE', KEYS[2], math.ceil(math.max(ttl, tonumber(ARGV[6])) / 1000) * 2)
end
if not urgent and ARGV[7] == '1' then
  local claims = redis.call('ZCARD', KEYS[2])
  if claims > 0 then
    return {2, until_free(), claims}
  end
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) * 2)
  if urgent then
    redis.call('ZREM', KEYS[2], ARGV[3])
    local hold = tonumber(ARGV[6])
    if hold > 0 then
      redis.call('ZADD', KEYS[2], now + hold, 'urgent-hold')
      expire_claims()
    end
  end
  return {0, 0, redis.call('ZCARD', KEYS[2])}
end
if urgent then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
  expire_claims()
end
return {1, until_free(), redis.call('ZCARD', KEYS[2])}
"""

#: KEYS[1]: the account's urgent claims; ARGV[1]: the claim to withdraw.
_WITHDRAW: Final = "return redis.call('ZREM', KEYS[1], ARGV[1])"


class RateLimit(Protocol):
    """What an adapter needs from a limiter: one blocking ``acquire`` per HTTP request."""

    def acquire(self, urgent: bool = False) -> None:
        """Return once one request may be sent, or raise ``TransientFailure``; an ``urgent``
        request goes before every other one waiting on the same account."""


def account_key(provider: str, account_id: str) -> str:
    """The Redis key of ``provider``'s ``account_id``; the account id is hashed, so a key
    never shows a credential (SendGrid's account is only known by its API key)."""
    digest = hashlib.sha256(account_id.encode()).hexdigest()[:16]
    return f"{KEY_PREFIX}:{provider}:{digest}"


def urgent_key(provider: str, account_id: str) -> str:
    """The Redis key of the urgent claims waiting on ``provider``'s ``account_id``."""
    return f"{account_key(provider, account_id)}:urgent"


#: Longest sleep between tries of a request that yields to urgent work: it resumes soon
#: after the last urgent request got its place.
_YIELD_POLL_SECONDS: Final = 0.25


class ProviderRateLimiter:
    """At most ``per_second`` requests in any one second to one provider account, across all
    processes that share the Redis server of ``redis_client``, urgent requests first.

    ``account_id`` names the account (hashed into the Redis keys); ``max_wait`` is how long
    ``acquire`` may block for a place (time spent yielding to urgent requests not counted);
    ``margin_ms``, ``claim_ttl_ms``, ``urgent_hold_ms`` and ``max_yield`` see the module
    docstring.
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
        claim_ttl_ms: int = 3000,
        urgent_hold_ms: int = 1000,
        max_yield: float = 240.0,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1 request per second")
        if margin_ms < 0 or urgent_hold_ms < 0:
            raise ValueError("margin_ms and urgent_hold_ms must not be negative")
        if claim_ttl_ms < 100:
            raise ValueError("claim_ttl_ms must be at least 100 ms")
        self.provider = provider
        self.per_second = per_second
        self.max_wait = max_wait
        self.window_ms = 1000 + margin_ms
        self.claim_ttl_ms = claim_ttl_ms
        self.urgent_hold_ms = urgent_hold_ms
        self.max_yield = max_yield
        self.key = account_key(provider, account_id)
        self.urgent_key = urgent_key(provider, account_id)
        self._admit = redis_client.register_script(_ADMIT)
        self._withdraw = redis_client.register_script(_WITHDRAW)
        #: Per thread: when its non-urgent requests started yielding to urgent ones.
        self._yielding = threading.local()

    def __repr__(self) -> str:
        return (
            f"ProviderRateLimiter(provider={self.provider!r}, per_second={self.per_second}, "
            f"window_ms={self.window_ms})"
        )

    def _try(self, request_id: str, urgent: bool, yield_to_urgent: bool) -> tuple[int, float, int]:
        """One try: (``ADMITTED``, ``FULL`` or ``YIELDED``; the seconds until a place may
        free up; the urgent claims on the account)."""
        try:
            status, wait_us, claims = self._admit(
                keys=[self.key, self.urgent_key],
                args=[
                    self.per_second,
                    self.window_ms * 1000,
                    request_id,
                    int(urgent),
                    self.claim_ttl_ms * 1000,
                    self.urgent_hold_ms * 1000,
                    int(yield_to_urgent),
                ],
            )
        except redis.RedisError as exc:
            raise TransientFailure(
                "rate_limiter_unavailable", f"{self.provider}: the rate limiter's Redis failed"
            ) from exc
        return int(status), int(wait_us) / 1_000_000, int(claims)

    def try_acquire(self, urgent: bool = False) -> bool:
        """Take a place in the current window if one is left (and, unless ``urgent``, no
        urgent request is waiting for one); never waits and leaves no claim behind."""
        request_id = uuid.uuid4().hex
        status, _, _ = self._try(request_id, urgent, yield_to_urgent=True)
        if urgent and status != ADMITTED:
            self._withdraw_claim(request_id)
        return status == ADMITTED

    def acquire(self, urgent: bool = False) -> None:
        """Return once this process may send one request; raise
        ``TransientFailure("rate_limited", retry_after=1)`` after ``max_wait`` seconds
        without a place (not counting the time a non-urgent request yielded to urgent ones).
        An ``urgent`` request claims the next place on the account while it waits."""
        request_id = uuid.uuid4().hex
        deadline = time.monotonic() + self.max_wait
        try:
            while True:
                yield_to_urgent = not urgent and self._may_yield()
                status, wait, claims = self._try(request_id, urgent, yield_to_urgent)
                if not urgent and claims == 0:
                    self._yielding.since = None
                if status == ADMITTED:
                    return
                started = time.monotonic()
                if status == YIELDED:
                    if getattr(self._yielding, "since", None) is None:
                        self._yielding.since = started
                    time.sleep(min(wait, _YIELD_POLL_SECONDS) + self._jitter())
                    deadline += time.monotonic() - started
                    continue
                remaining = deadline - started
                if remaining <= 0:
                    raise TransientFailure(
                        "rate_limited",
                        f"{self.provider}: no send slot within {self.max_wait:g}s "
                        f"({self.per_second}/s)",
                        retry_after=1.0,
                    )
                pause = wait + self._jitter()
                if urgent:  # wake in time to renew the claim
                    pause = min(pause, self.claim_ttl_ms / 3000)
                time.sleep(min(max(pause, 0.001), remaining))
        except BaseException:
            if urgent:
                self._withdraw_claim(request_id)
            raise

    def _may_yield(self) -> bool:
        since = getattr(self._yielding, "since", None)
        return since is None or time.monotonic() - since < self.max_yield

    @staticmethod
    def _jitter() -> float:
        return random.uniform(0.0, _JITTER_MS) / 1000.0

    def _withdraw_claim(self, request_id: str) -> None:
        """Remove the urgent claim of a request that gave up (best effort: a claim left
        behind expires by itself)."""
        with contextlib.suppress(redis.RedisError):
            self._withdraw(keys=[self.urgent_key], args=[request_id])
