"""What happens after a delivery fails: the contact's next channel (fallback) or, with no
channel left, the student's next contact (escalation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dispatcher.domain import Channel, DeliveryKind, DeliveryState
from dispatcher.store.models import Delivery


def start_fallback(session: Session, failed: Delivery, moment: datetime) -> int | None:
    """Create the next delivery in ``failed``'s fallback chain, once; return its id.

    Skips channels this contact already has a delivery on for the announcement (an urgent
    email back-up counts), so a fallback never sends a second copy on the same channel.
    """
    chain = [Channel(c) for c in failed.fallback_chain.split(",") if c]
    used = set(
        session.scalars(
            select(Delivery.channel).where(
                Delivery.announcement_id == failed.announcement_id,
                Delivery.contact_id == failed.contact_id,
            )
        )
    )
    remaining = [c for c in chain if c.value not in used]
    if not remaining:
        return None
    nxt = remaining[0]
    values = {
        "announcement_id": failed.announcement_id,
        "contact_id": failed.contact_id,
        "student_id": failed.student_id,
        "channel": nxt.value,
        "kind": DeliveryKind.FALLBACK.value,
        "queue": failed.queue,
        "language": failed.language,
        "language_fallback": failed.language_fallback,
        "format": failed.format,
        "fallback_chain": ",".join(c.value for c in remaining[1:]),
        "fallback_of": failed.id,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "enqueued_at": moment,
        "created_at": moment,
        "updated_at": moment,
    }
    return int(
        session.execute(insert(Delivery).values(**values).returning(Delivery.id)).scalar_one()
    )


def start_follow_ups(session: Session, failed: Delivery, moment: datetime) -> list[int]:
    """Create the deliveries owed because ``failed`` failed, each at most once, and return
    their ids for enqueueing (the caller commits, then enqueues)."""
    follow_up = start_fallback(session, failed, moment)
    return [follow_up] if follow_up is not None else []
