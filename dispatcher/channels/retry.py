"""What every adapter's request path shares: one retry policy, the rate limiter's slot
before each request, and the connection pool size.

Retries
    ``RetryPolicy.call`` runs one provider request and retries it, inside one delivery attempt,
    while it raises ``TransientFailure``: exponential backoff with full jitter, never sooner
    than the provider's ``Retry-After``, at most ``attempts`` tries and never sleeping past
    ``max_seconds`` in all. Then it re-raises the last ``TransientFailure``, so the delivery
    goes back to ``pending`` and Dramatiq's retry (with its own, longer backoff) takes over.
    Permanent failures are never retried.

    A timeout or a 5xx after the provider has read the request is ambiguous: it may have
    accepted the message (Twilio's page for 20500 warns of exactly this for sending an SMS),
    so retrying it can, rarely, send a message twice. None of the three providers offers an
    idempotency key for sends; this is the duplicate window the dispatcher accepts, kept
    small by the few retries and the time budget. A 429 or a connection refused is safe.
    Where the provider will say by itself whether it took the message (a status callback
    naming the delivery: ``confirming_lost_answers``), such a request is not retried: the
    caller waits for the callback instead (decision 0056).
    The limits themselves, and how they nest with Dramatiq's, are ``dispatcher.retries``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from dispatcher.channels.base import (
    ChannelError,
    ConfigurationFailure,
    TransientFailure,
)
from dispatcher.channels.errors import AMBIGUOUS_CODES
from dispatcher.channels.rate_limit import RateLimit
from dispatcher.retries import (
    REQUEST_ATTEMPTS,
    REQUEST_BACKOFF_SECONDS,
    REQUEST_MAX_BACKOFF_SECONDS,
    REQUEST_MAX_SECONDS,
)

log = logging.getLogger("channels.retrying")

#: How many requests of this thread failed in a way that leaves it unknown whether the
#: provider took the message (``AMBIGUOUS_CODES``): read before and after a send.
_ambiguous: ContextVar[int] = ContextVar("dispatcher_ambiguous_requests", default=0)


#: Whether this thread's current send is confirmed by the provider's status callback, so a
#: request that lost its answer is not retried (``confirming_lost_answers``).
_confirmed_by_callback: ContextVar[bool] = ContextVar(
    "dispatcher_confirmed_by_callback", default=False
)


@contextmanager
def confirming_lost_answers(enabled: bool) -> Iterator[None]:
    """While this is open (``enabled``), a request of this thread that may have reached the
    provider (``AMBIGUOUS_CODES``) is not tried again: its ``TransientFailure`` is raised at
    once, for the caller to wait for the provider's own word on it."""
    reset = _confirmed_by_callback.set(enabled)
    try:
        yield
    finally:
        _confirmed_by_callback.reset(reset)


def lost_answer(exc: object) -> bool:
    """Whether ``exc`` says a request may have reached the provider without its answer
    coming back."""
    return isinstance(exc, TransientFailure) and exc.code in AMBIGUOUS_CODES


def _worth_retrying(exc: BaseException) -> bool:
    if not isinstance(exc, TransientFailure):
        return False
    return not (lost_answer(exc) and _confirmed_by_callback.get())


def ambiguous_requests() -> int:
    """The running count, for this thread, of requests whose outcome nobody can know (a
    timeout or a connection closed before the answer): when it grew during a send, the
    message may have gone more than once."""
    return _ambiguous.get()


T = TypeVar("T")


#: HTTP connections each adapter keeps alive per process: at least a worker's threads.
CONNECTIONS_PER_PROCESS = 32


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None when absent or not a
    number (an HTTP date is treated as absent: the backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


class wait_retry_after(wait_base):
    """Wait ``max(Retry-After, backoff)``: the backoff, but never sooner than the provider
    asked."""

    def __init__(self, backoff: wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        wait = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, TransientFailure) and exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
        return wait


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one provider request inside one delivery attempt.

    ``attempts`` tries in all; exponential backoff with full jitter (``multiplier`` doubling
    up to ``max_backoff`` seconds), never sooner than ``Retry-After``; no sleep that would end
    more than ``max_seconds`` after the first try started.
    """

    attempts: int = REQUEST_ATTEMPTS
    max_seconds: float = REQUEST_MAX_SECONDS
    multiplier: float = REQUEST_BACKOFF_SECONDS
    max_backoff: float = REQUEST_MAX_BACKOFF_SECONDS
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def call(self, request: Callable[[], T], label: str = "") -> T:
        """Return ``request()``, retrying it while it raises ``TransientFailure``.

        Re-raises the last ``TransientFailure`` once the attempts or the time budget are
        spent (never a tenacity ``RetryError``); any other exception, permanent failures
        included, propagates at once. ``label`` (a provider name and delivery id, never
        personal data) goes in the retry log lines.
        """

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            code = exc.code if isinstance(exc, ChannelError) else type(exc).__name__
            log.info(
                "%s: transient failure %s on try %d; retrying in %.2fs",
                label or "provider request",
                code,
                state.attempt_number,
                state.upcoming_sleep,
            )

        def attempt() -> T:
            try:
                return request()
            except TransientFailure as exc:
                if exc.code in AMBIGUOUS_CODES:
                    _ambiguous.set(_ambiguous.get() + 1)
                raise

        retrying = Retrying(
            retry=retry_if_exception(_worth_retrying),
            wait=wait_retry_after(
                wait_random_exponential(multiplier=self.multiplier, max=self.max_backoff)
            ),
            stop=stop_any(
                stop_after_attempt(max(1, self.attempts)), stop_before_delay(self.max_seconds)
            ),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )
        return retrying(attempt)


#: No retries inside the attempt: every transient failure goes straight back to Dramatiq.
NO_RETRY = RetryPolicy(attempts=1)


def send_with_retries(
    request: Callable[[], T],
    *,
    retry: RetryPolicy,
    limiter: RateLimit | None,
    label: str,
    urgent: bool = False,
) -> T:
    """Run one provider request under ``retry``, taking a slot from ``limiter`` (when given)
    before every HTTP request, retries included; an ``urgent`` request's slot comes before
    any other request's waiting on the same account.

    A ``ConfigurationFailure`` is logged at ERROR (the alert: the channel's credentials or
    account settings need a person) and re-raised; so is everything else ``retry.call``
    raises.
    """

    def one_request() -> T:
        if limiter is not None:
            limiter.acquire(urgent=urgent)
        return request()

    try:
        return retry.call(one_request, label)
    except ConfigurationFailure as exc:
        log.error(
            "%s: configuration failure %s: %s; this channel cannot send until its "
            "credentials or account settings are fixed",
            label,
            exc.code,
            exc.reason,
        )
        raise


def accepted_without_id(provider: str) -> str:
    """A stand-in message id for an answer that accepted the message but named no id (never
    seen from a real provider): the message went, so it must not be failed or retried; the
    receipt says ``unknown-...`` and a warning is logged."""
    log.warning("%s accepted a message without giving its id", provider)
    return f"unknown-{uuid.uuid4().hex}"
