"""Channels stopped because their provider refused our account, shared through Redis.

When a provider answers that our credentials or account settings are wrong (a
``ConfigurationFailure``: a revoked Twilio token, a SendGrid key without the Mail Send
permission, an FCM project the service account cannot send for), every other message on that
channel would be refused the same way. The first worker to see it stops the channel for
every worker process: ``ChannelStops.stop`` records the provider's code and reason in Redis for
``seconds`` (default five minutes). While the stop lasts, deliveries on that channel go back to
``pending`` without a request to the provider, and the alert is logged once per stop, not
once per family. When it runs out, the next delivery tries the provider again; if the account
is still refused, the channel stops again, without a new alert for the same reason
(``should_alert``: one ALERT until the stop is resumed, repeated once a day while it lasts).
``resume`` lifts a stop at once (after the IT lead fixed the credentials and restarted the
workers).

A Redis that cannot be reached counts as "not stopped": the stop saves requests and log
lines, and the provider's own refusal still protects every family's delivery.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import redis

KEY_PREFIX: Final = "dispatcher:channel-stop"
#: The code of the last alert raised for a provider (``should_alert``).
ALERTED_PREFIX: Final = "dispatcher:channel-alerted"
#: How long a channel stays stopped after its provider refused our account.
DEFAULT_STOP_SECONDS: Final = 300.0
#: A provider still refused for the same reason is alerted again after this long.
ALERT_REPEAT_SECONDS: Final = 24 * 3600

log = logging.getLogger("channels.stops")


@dataclass(frozen=True)
class ChannelStop:
    """One stopped provider: the provider's code and reason, when it stopped, and how long
    the stop still lasts."""

    provider: str
    code: str
    reason: str
    since: datetime
    seconds_left: float


def stop_key(provider: str) -> str:
    """The Redis key holding ``provider``'s stop."""
    return f"{KEY_PREFIX}:{provider}"


class ChannelStops:
    """The stopped providers of one deployment (one provider account each), in the Redis that
    ``client`` returns; ``client`` is called on first use, so a process that never sends
    never connects."""

    def __init__(
        self, client: Callable[[], redis.Redis[Any]], seconds: float = DEFAULT_STOP_SECONDS
    ) -> None:
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self.seconds = seconds
        self._client_factory = client
        self._client: redis.Redis[Any] | None = None
        self._client_lock = threading.Lock()

    def _redis(self) -> redis.Redis[Any]:
        # One client, made under a lock: a second one made by a racing thread would replace
        # the first, whose finaliser closes the connections the first thread is using.
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._client_factory()
                client = self._client
        return client

    def stop(self, provider: str, code: str, reason: str, now: datetime) -> bool:
        """Stop ``provider`` for every worker for ``seconds`` unless it is already stopped;
        True when this call stopped it (the caller raises the alert), False when it was
        already stopped or Redis could not be reached."""
        value = json.dumps({"code": code, "reason": reason, "since": now.isoformat()})
        try:
            created = self._redis().set(
                stop_key(provider), value, nx=True, px=int(self.seconds * 1000)
            )
        except redis.RedisError:
            log.warning("could not record that %s is stopped: Redis failed", provider)
            return False
        return bool(created)

    def stopped(self, provider: str) -> ChannelStop | None:
        """``provider``'s stop if it is stopped now, else None (also when Redis fails)."""
        try:
            pipe = self._redis().pipeline(transaction=False)
            pipe.get(stop_key(provider))
            pipe.pttl(stop_key(provider))
            raw, ttl_ms = pipe.execute()
        except redis.RedisError:
            log.warning("could not check whether %s is stopped: Redis failed", provider)
            return None
        if raw is None:
            return None
        return _parse(provider, raw, ttl_ms)

    def should_alert(self, provider: str, code: str) -> bool:
        """Whether a new stop of ``provider`` for ``code`` deserves an ALERT: True unless
        the last alert for it had the same code, was raised in the last
        ``ALERT_REPEAT_SECONDS`` and the provider has not been resumed since. A Redis that
        cannot be reached says True (an alert too many beats none)."""
        key = f"{ALERTED_PREFIX}:{provider}"
        try:
            client = self._redis()
            previous = client.get(key)
            if previous is not None and _text(previous) == code:
                return False
            client.set(key, code, ex=int(ALERT_REPEAT_SECONDS))
        except redis.RedisError:
            return True
        return True

    def resume(self, provider: str) -> bool:
        """Lift ``provider``'s stop (and forget its last alert); True if it was stopped."""
        client = self._redis()
        client.delete(f"{ALERTED_PREFIX}:{provider}")
        return bool(client.delete(stop_key(provider)))

    def all(self) -> list[ChannelStop]:
        """Every provider stopped now, by name."""
        client = self._redis()
        stops = []
        for key in sorted(client.scan_iter(match=f"{KEY_PREFIX}:*", count=100)):
            name = key.decode() if isinstance(key, bytes) else str(key)
            stop = self.stopped(name.removeprefix(f"{KEY_PREFIX}:"))
            if stop is not None:
                stops.append(stop)
        return stops


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse(provider: str, raw: bytes | str, ttl_ms: int) -> ChannelStop:
    try:
        fields = json.loads(raw)
        since = datetime.fromisoformat(fields["since"])
        code, reason = str(fields["code"]), str(fields["reason"])
    except (ValueError, KeyError, TypeError):
        since = datetime.fromtimestamp(0, UTC)
        code, reason = "unknown", "the stop's record is unreadable"
    return ChannelStop(provider, code, reason, since, max(ttl_ms, 0) / 1000)
