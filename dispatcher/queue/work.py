"""What is put on the queue: ``QueuedWork`` (an actor, the ids it carries, a delay), and the
messages of an announcement's plan and deliveries, batched the way the workers take them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dispatcher.domain import Channel
from dispatcher.queue.names import PLAN_ACTOR


@dataclass(frozen=True)
class QueuedWork:
    """One message to enqueue: which actor, for which id, after how long (ms).

    A batch actor's message carries several ids (``batch``; ``object_id`` is the first);
    each id gets its own in-flight marker, so the sweep can replay any one of them.
    """

    actor_name: str
    object_id: int
    delay_ms: int | None = None
    batch: tuple[int, ...] = ()

    @classmethod
    def for_batch(
        cls, actor_name: str, ids: Sequence[int], delay_ms: int | None = None
    ) -> QueuedWork:
        """A message for a batch actor carrying ``ids`` (at least one)."""
        return cls(actor_name, ids[0], delay_ms, tuple(ids))

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Every id this message carries."""
        return self.batch or (self.object_id,)


def plan_work(announcement_id: int, send_at: datetime | None, now: datetime) -> QueuedWork:
    """The message that plans an announcement: at once, or delayed until its ``send_at``."""
    delay = None
    if send_at is not None:
        send_at = send_at if send_at.tzinfo is not None else send_at.replace(tzinfo=UTC)
        delay = max(0, int((send_at - now).total_seconds() * 1000)) or None
    return QueuedWork(PLAN_ACTOR, announcement_id, delay)


def delivery_work(
    actor_name: str,
    deliveries: Iterable[tuple[int, str]],
    batch_size: int,
    email_batch_size: int,
    delay_ms: int | None = None,
) -> list[QueuedWork]:
    """Queue messages for the (id, channel) pairs, in the order given within each kind:
    texts and pushes first, ``batch_size`` per message (in an urgent category the text is
    the message and the email its back-up), then emails, ``email_batch_size`` per message
    (emails of one message that read the same share one provider request)."""
    first: list[int] = []
    emails: list[int] = []
    for delivery_id, channel in deliveries:
        (emails if channel == Channel.EMAIL.value else first).append(delivery_id)
    return batched_work(actor_name, first, batch_size, delay_ms) + batched_work(
        actor_name, emails, email_batch_size, delay_ms
    )


def batched_work(
    actor_name: str, ids: list[int], size: int, delay_ms: int | None = None
) -> list[QueuedWork]:
    """Messages for a batch actor carrying ``ids`` in order, at most ``size`` per message."""
    return [
        QueuedWork.for_batch(actor_name, ids[start : start + size], delay_ms)
        for start in range(0, len(ids), size)
    ]
