"""A per-provider-account request rate, shared by every worker process through Redis.

Fifty schools on one Twilio account share that account's limit, whichever worker process
sends for them. ``ProviderRateLimiter`` is built on Dramatiq's own ``BucketRateLimiter`` over
its ``RedisBackend``: time is cut into slots of ``slot_ms`` milliseconds (aligned on the clock
every process shares) and each slot admits ``per_slot`` requests, so the processes need no
other coordination than one Redis ``SET NX`` (and, when the slot already has requests, one
``WATCH``/``GET``/``SET``) per try.

**Any sliding second, not calendar seconds.** A limiter that admits ``limit`` requests per
calendar second (Dramatiq's ``WindowRateLimiter`` with a one-second window, or a one-second
bucket) lets ``limit`` requests through at the end of one second and ``limit`` more at the
start of the next: twice the limit within one sliding second, which is how providers and the
emulator count. An interval of ``1000 + margin_ms`` milliseconds overlaps at most
``ceil((1000 + margin_ms) / slot_ms) + 1`` slots, so ``slot_plan`` picks the slot length and
requests per slot that keep ``per_slot x that`` at or under ``limit`` with the highest
sustained rate (preferring the smallest bursts within 2% of it). ``margin_ms`` (default 50)
absorbs the time between taking a slot and the request reaching the provider, which varies
(a first request that opens a connection, a busy CPU), and small clock differences between
machines (slots follow each process's wall clock); the price is a sustained rate a few
per cent under the limit (about 18.9/s for a limit of 20, 47/s for 50). With ``limit == 1``
no plan can promise one request per sliding second (two slots always touch one interval): the
slot is longer than a second and a sliding second may see two.

``acquire()`` blocks, sleeping until the next slot starts (plus a few milliseconds of jitter,
so that waiting processes do not all wake at once), until it gets a slot or ``max_wait``
seconds pass; then it raises ``TransientFailure("rate_limited", retry_after=1)`` and the
delivery is retried later. Redis being unreachable is also a ``TransientFailure``.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from typing import Any, Final, Protocol

import redis
from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from channels.base import TransientFailure

KEY_PREFIX: Final = "dispatcher:provider-rate"
_JITTER_MS: Final = 4.0


class RateLimit(Protocol):
    """What an adapter needs from a limiter: one blocking ``acquire`` per HTTP request."""

    def acquire(self) -> None:
        """Return once one request may be sent, or raise ``TransientFailure``."""


def slots_touched(span_ms: int, slot_ms: int) -> int:
    """The most slots of ``slot_ms`` that an interval of ``span_ms`` can overlap:
    ``ceil(span / slot) + 1`` (it can begin just before a slot ends)."""
    return -(-span_ms // slot_ms) + 1


def slot_plan(limit: int, margin_ms: int = 50) -> tuple[int, int]:
    """``(slot_ms, per_slot)`` for at most ``limit`` requests in any ``1000 + margin_ms`` ms:
    the highest sustained rate, and among plans within 2% of it the smallest bursts."""
    if limit < 1:
        raise ValueError("limit must be at least 1 request per second")
    if margin_ms < 0:
        raise ValueError("margin_ms must not be negative")
    span = 1000 + margin_ms
    if limit == 1:
        return span + 1, 1
    plans: list[tuple[float, int, int]] = []
    for slot in range(1, span + 2):
        per_slot = limit // (slots_touched(span, slot))
        if per_slot >= 1:
            plans.append((per_slot * 1000 / slot, per_slot, slot))
    best = max(rate for rate, _, _ in plans)
    _, per_slot, slot = min((p for p in plans if p[0] >= 0.98 * best), key=lambda p: (p[1], -p[0]))
    return slot, per_slot


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
        margin_ms: int = 50,
    ) -> None:
        self.provider = provider
        self.per_second = per_second
        self.max_wait = max_wait
        self.slot_ms, self.per_slot = slot_plan(per_second, margin_ms)
        self.key = account_key(provider, account_id)
        self._limiter = BucketRateLimiter(
            RedisBackend(client=redis_client),  # type: ignore[no-untyped-call]
            self.key,
            limit=self.per_slot,
            bucket=self.slot_ms,
        )

    def __repr__(self) -> str:
        return (
            f"ProviderRateLimiter(provider={self.provider!r}, per_second={self.per_second}, "
            f"slot_ms={self.slot_ms}, per_slot={self.per_slot})"
        )

    def try_acquire(self) -> bool:
        """Take a place in the current slot if one is left; never waits."""
        try:
            with self._limiter.acquire(raise_on_failure=False) as acquired:
                return bool(acquired)
        except redis.RedisError as exc:
            raise TransientFailure(
                "rate_limiter_unavailable", f"{self.provider}: the rate limiter's Redis failed"
            ) from exc

    def acquire(self) -> None:
        """Return once this process may send one request; raise
        ``TransientFailure("rate_limited", retry_after=1)`` after ``max_wait`` seconds."""
        deadline = time.monotonic() + self.max_wait
        while True:
            if self.try_acquire():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientFailure(
                    "rate_limited",
                    f"{self.provider}: no send slot within {self.max_wait:g}s "
                    f"({self.per_second}/s)",
                    retry_after=1.0,
                )
            now_ms = time.time() * 1000.0  # the clock BucketRateLimiter slots by
            next_slot_ms = (math.floor(now_ms / self.slot_ms) + 1) * self.slot_ms
            pause = (next_slot_ms - now_ms + random.uniform(0.0, _JITTER_MS)) / 1000.0
            time.sleep(min(max(pause, 0.001), remaining))
