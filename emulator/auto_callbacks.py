"""Status callbacks the emulator sends by itself, as the providers do.

With ``AutoCallbacks`` set on the emulator:

- **Twilio**: every accepted message with a ``StatusCallback`` gets ``sent`` after
  ``twilio_sent_after`` seconds and ``delivered`` after ``delivered_after`` (``undelivered``
  with the ``ErrorCode`` given in ``failed_recipients`` for that number), each POSTed to the
  message's StatusCallback URL with ``X-Twilio-Signature``.
- **SendGrid** (when ``sendgrid_url`` is set): every accepted send gives one ``processed``
  event per recipient at once and one ``delivered`` event (``bounce`` with the reason given in
  ``failed_recipients`` for that address) after ``delivered_after``. Events are batched, as
  SendGrid's Event Webhook batches them: a batch is posted when it holds
  ``sendgrid_batch_size`` events or ``sendgrid_batch_seconds`` after its first event,
  signed with the emulator's ECDSA key.
- FCM has no callbacks.

Callbacks are posted from a small pool of background threads (``threads``), never from the
thread answering the API request. A callback answered 5xx or 429, or that cannot reach the
receiver (refused, timed out), is tried again after ``retry_interval`` seconds, the wait
multiplied by ``retry_backoff`` each time up to ``retry_max_interval``, until
``retry_for`` seconds after its first attempt (SendGrid retries for 24 hours; Twilio a few
times). Another 4xx is final. A retry sends the same body, signature and (Twilio)
``I-Twilio-Idempotency-Token``. Every attempt is kept as a ``CallbackAttempt``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Any

log = logging.getLogger("emulator.callbacks")

#: A callback's post: returns the HTTP status answered; raises OSError when unreachable.
Post = Callable[[], int]


@dataclass(frozen=True)
class AutoCallbacks:
    """How the emulator calls back by itself (see the module docstring)."""

    twilio: bool = True
    sendgrid_url: str | None = None
    twilio_sent_after: float = 0.2
    delivered_after: float = 1.0
    sendgrid_batch_seconds: float = 0.5
    sendgrid_batch_size: int = 100
    retry_interval: float = 1.0
    retry_backoff: float = 2.0
    retry_max_interval: float = 10.0
    retry_for: float = 300.0
    threads: int = 4
    #: Recipient (E.164 number or email address, any case) -> Twilio ErrorCode or SendGrid
    #: bounce reason: that recipient's message ends undelivered / bounced instead.
    failed_recipients: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "twilio_sent_after",
            "delivered_after",
            "sendgrid_batch_seconds",
            "retry_interval",
            "retry_max_interval",
            "retry_for",
        ):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"{name}: expected seconds, 0 or more")
        if float(self.retry_backoff) < 1:
            raise ValueError("retry_backoff: expected a factor of 1 or more")
        if int(self.sendgrid_batch_size) < 1 or int(self.threads) < 1:
            raise ValueError("sendgrid_batch_size, threads: expected 1 or more")
        if self.sendgrid_url is not None and not self.sendgrid_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("sendgrid_url: expected an http:// or https:// URL")
        if not isinstance(self.failed_recipients, dict):
            raise ValueError("failed_recipients: expected an object of recipient: code")

    @classmethod
    def from_dict(cls, data: Any) -> AutoCallbacks:
        """Build the settings from a JSON object of their field names (unknown: an error)."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of AutoCallbacks fields")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown AutoCallbacks field(s): {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    def failure_for(self, recipient: str) -> str | None:
        """The code or reason ``failed_recipients`` gives ``recipient``, if any."""
        wanted = recipient.lower()
        for name, code in self.failed_recipients.items():
            if name.lower() == wanted:
                return code
        return None

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = self.retry_interval * self.retry_backoff ** (attempt - 1)
        return min(delay, self.retry_max_interval)


@dataclass(frozen=True)
class CallbackAttempt:
    """One POST of a callback: ``status`` answered (0: unreachable, with ``error``)."""

    provider: str  # "twilio" | "sendgrid"
    url: str
    #: The Twilio ``MessageStatus``, or the SendGrid batch's event names in order.
    events: tuple[str, ...]
    delivery_ids: tuple[str, ...]
    callback: int  # one number per callback, shared by its retries
    attempt: int
    at: float
    status: int
    error: str | None = None
    final: bool = False  # no further attempt will be made

    @property
    def succeeded(self) -> bool:
        """True when the receiver answered 2xx."""
        return 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def should_retry(status: int) -> bool:
    """Whether an answer asks for another attempt: 5xx, 429, or no answer (0)."""
    return status == 0 or status == 429 or status >= 500


@dataclass
class _Callback:
    number: int
    provider: str
    url: str
    events: tuple[str, ...]
    delivery_ids: tuple[str, ...]
    post: Post
    first_at: float | None = None
    attempts: int = 0


class CallbackSender:
    """A timer heap and a thread pool posting callbacks, with retries and a log of attempts.

    ``at(due, job)`` runs ``job`` (any callable) on the pool once ``time.time() >= due``;
    ``send(...)`` posts one callback with the retry policy of ``settings``.
    """

    def __init__(self, settings: AutoCallbacks) -> None:
        self.settings = settings
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._numbers = itertools.count(1)
        self._attempts: list[CallbackAttempt] = []
        self._running = 0
        self._stopped = False
        self._pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="emulator-callback")
        self._timer = threading.Thread(
            target=self._run_timer, name="emulator-callback-timer", daemon=True
        )
        self._timer.start()

    # --- scheduling -----------------------------------------------------------------------

    def at(self, due: float, job: Callable[[], None]) -> None:
        """Run ``job`` on the pool at unix time ``due`` (at once if it has passed)."""
        with self._condition:
            if self._stopped:
                return
            heapq.heappush(self._heap, (due, next(self._sequence), job))
            self._condition.notify()

    def send(
        self,
        provider: str,
        url: str,
        events: tuple[str, ...],
        delivery_ids: tuple[str, ...],
        post: Post,
    ) -> None:
        """Post a callback now (from the pool), and again as the retry policy says."""
        callback = _Callback(next(self._numbers), provider, url, events, delivery_ids, post)
        self.at(time.time(), lambda: self._attempt(callback))

    def _run_timer(self) -> None:
        while True:
            with self._condition:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    timeout = self._heap[0][0] - time.time() if self._heap else None
                    self._condition.wait(timeout)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._pool.submit(self._run, job)
            except RuntimeError:  # the pool was shut down meanwhile
                self._finished()
                return

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("emulator: a callback job failed")
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._condition:
            self._running -= 1
            self._condition.notify_all()

    def _attempt(self, callback: _Callback) -> None:
        now = time.time()
        if callback.first_at is None:
            callback.first_at = now
        callback.attempts += 1
        error: str | None = None
        try:
            status = callback.post()
        except OSError as exc:
            status, error = 0, type(exc).__name__
        settings = self.settings
        delay = settings.retry_delay(callback.attempts)
        retry = should_retry(status) and (now + delay - callback.first_at <= settings.retry_for)
        attempt = CallbackAttempt(
            provider=callback.provider,
            url=callback.url,
            events=callback.events,
            delivery_ids=callback.delivery_ids,
            callback=callback.number,
            attempt=callback.attempts,
            at=now,
            status=status,
            error=error,
            final=not retry,
        )
        with self._condition:
            self._attempts.append(attempt)
        if retry:
            self.at(now + delay, lambda: self._attempt(callback))
        elif not attempt.succeeded:
            log.warning(
                "emulator: %s callback %d given up after %d attempts (last answer %s)",
                callback.provider,
                callback.number,
                callback.attempts,
                status or error,
            )

    # --- reading and stopping -------------------------------------------------------------

    def attempts(self, provider: str | None = None) -> list[CallbackAttempt]:
        """Every attempt so far, oldest first (only ``provider``'s when given)."""
        with self._condition:
            attempts = list(self._attempts)
        return [a for a in attempts if provider is None or a.provider == provider]

    def pending(self) -> int:
        """Jobs scheduled or running (callbacks still to post, retries, batches to flush)."""
        with self._condition:
            return len(self._heap) + self._running

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is scheduled or running; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(min(remaining, 0.1))
        return True

    def stop(self) -> None:
        """Drop what is scheduled, let running posts finish (they time out), stop the threads."""
        with self._condition:
            self._stopped = True
            self._heap.clear()
            self._condition.notify_all()
        self._timer.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)


class SendGridBatcher:
    """Collects SendGrid events and hands them on in batches, as the Event Webhook posts
    them: ``flush(batch)`` is called with ``size`` events at once, or with what has gathered
    ``seconds`` after the first event of a batch arrived."""

    def __init__(
        self,
        sender: CallbackSender,
        size: int,
        seconds: float,
        flush: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self._sender = sender
        self._size = size
        self._seconds = seconds
        self._flush = flush
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._generation = 0

    def add(self, events: list[dict[str, Any]]) -> None:
        """Add events; full batches go at once, the rest after the batch's wait."""
        full: list[list[dict[str, Any]]] = []
        with self._lock:
            was_empty = not self._events
            self._events.extend(events)
            while len(self._events) >= self._size:
                full.append(self._events[: self._size])
                del self._events[: self._size]
                self._generation += 1
                was_empty = True
            timer = self._generation if self._events and was_empty else None
        for batch in full:
            self._flush(batch)
        if timer is not None:
            self._sender.at(time.time() + self._seconds, lambda: self._flush_due(timer))

    def _flush_due(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or not self._events:
                return
            batch, self._events = self._events, []
            self._generation += 1
        self._flush(batch)


def idempotency_token() -> str:
    """A value for ``I-Twilio-Idempotency-Token``: one per callback, the same on retries."""
    return secrets.token_hex(16)
