"""In-flight markers: knowing which queued work Redis still holds.

The queue only carries ids. Each message enqueued also gets an in-flight marker in Redis per
id it carries (``dispatcher.queue.enqueue``), cleared by the ``InFlightMarkers`` middleware
once the message has been handled; the recovery sweep re-enqueues work whose row says it
should be queued but whose marker is gone (Redis restarted, flushed, or the enqueue never
happened because the process died after committing the row).

A message that fails keeps its markers: Dramatiq retries it (the marker belongs to the
retry), or it died on a bug, and its rows are settled by the sweep's other checks rather than
replayed in a loop. An id the actor handed on to a new message (``hand_on``: a delivery held
for the send window, or waiting for a stopped channel) keeps its marker too: the new message
owns it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from dispatcher.queue.names import MIS_EVENT_ACTOR, PLAN_ACTOR

MARKER_TTL_SECONDS = 24 * 3600
GENERATION_KEY = "dispatcher:generation"


#: The in-flight marker's kind per actor; every other actor delivers.
_MARKER_KINDS = {PLAN_ACTOR: "plan", MIS_EVENT_ACTOR: "mis"}


def _marker(actor_name: str, object_id: int) -> str:
    kind = _MARKER_KINDS.get(actor_name, "delivery")
    return f"dispatcher:inflight:{kind}:{object_id}"


def delivery_marker(delivery_id: int) -> str:
    """Redis key marking ``delivery_id`` as queued or being handled."""
    return f"dispatcher:inflight:delivery:{delivery_id}"


def plan_marker(announcement_id: int) -> str:
    """Redis key marking an announcement's plan as queued or running."""
    return _marker(PLAN_ACTOR, announcement_id)


def mis_marker(mis_event_id: int) -> str:
    """Redis key marking an MIS event as queued or being processed."""
    return _marker(MIS_EVENT_ACTOR, mis_event_id)


def current_generation(broker: RedisBroker) -> str:
    """The Redis generation: a random value that lives as long as Redis's data does.

    A FLUSHALL or a restart without persistence wipes it, so a marker written with an older
    generation (for instance by a process that was half way through a batch when Redis was
    flushed) is recognised as stale rather than trusted.
    """
    client = broker.client
    value = client.get(GENERATION_KEY)
    if value is None:
        client.set(GENERATION_KEY, uuid.uuid4().hex, nx=True)
        value = client.get(GENERATION_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)


def clear_marker(broker: RedisBroker, *keys: str) -> None:
    """Forget in-flight markers once their work is done."""
    if keys:
        broker.client.delete(*keys)


#: The ids the message being processed in this thread handed on (None outside a message).
_handed_on: ContextVar[set[int] | None] = ContextVar("dispatcher_handed_on", default=None)


def hand_on(ids: Iterable[int]) -> None:
    """Keep the in-flight markers of ``ids`` when the current message is done: the actor
    queued them again in a new message (held for the send window, waiting for a stopped
    channel, retried one by one), which owns the markers now."""
    current = _handed_on.get()
    if current is not None:
        current.update(ids)


def message_ids(message: MessageProxy) -> tuple[int, ...]:
    """The ids a dispatcher message carries: one, or a batch's list."""
    if not message.args:
        return ()
    argument = message.args[0]
    if isinstance(argument, list | tuple):
        return tuple(int(i) for i in argument)
    return (int(argument),)


class InFlightMarkers(Middleware):
    """Clears a message's in-flight markers once its actor has handled it (or Dramatiq has
    skipped it, so that the sweep can replay what is still due), keeping those of ids the
    actor handed on (``hand_on``) and of a message that raised."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Start the message's record of ids handed on."""
        _handed_on.set(set())

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Clear the markers of a message handled without an exception."""
        kept = frozenset(_handed_on.get() or ())
        _handed_on.set(None)
        if exception is None:
            self._clear(broker, message, kept)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        """Clear the markers of a message that will not be processed."""
        _handed_on.set(None)
        self._clear(broker, message, frozenset())

    @staticmethod
    def _clear(broker: Broker, message: MessageProxy, kept: frozenset[int]) -> None:
        keys = [_marker(message.actor_name, i) for i in message_ids(message) if i not in kept]
        if keys and isinstance(broker, RedisBroker):
            clear_marker(broker, *keys)


def missing_markers(broker: RedisBroker, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` not marked in flight in the current generation (work to replay)."""
    key_list = list(keys)
    if not key_list:
        return set()
    generation = current_generation(broker).encode()
    values = broker.client.mget(key_list)
    return {key for key, value in zip(key_list, values, strict=True) if value != generation}
