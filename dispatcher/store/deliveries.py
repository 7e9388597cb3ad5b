"""Moving deliveries through their states: the one place a delivery's state changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatcher.domain import ALLOWED_TRANSITIONS, DeliveryState
from dispatcher.store.models import Delivery, DeliveryEvent


def predecessors(target: DeliveryState) -> frozenset[DeliveryState]:
    """States from which a delivery may move to ``target``."""
    return frozenset(s for s, nexts in ALLOWED_TRANSITIONS.items() if target in nexts)


def move_delivery(
    session: Session,
    delivery_id: int,
    to_state: DeliveryState,
    *,
    now: datetime,
    code: str | None = None,
    detail: str | None = None,
    only_from: Iterable[DeliveryState] | None = None,
    **fields: Any,
) -> bool:
    """Move one delivery to ``to_state`` if that is allowed from its current state.

    Returns False, changing nothing, when the move is not allowed (already further on, or
    not in ``only_from``): repeated and out-of-order updates never move a delivery backwards.
    Records a ``DeliveryEvent``. The caller commits.
    """
    allowed = predecessors(to_state)
    if only_from is not None:
        allowed = allowed & frozenset(only_from)
    current = session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
    if current is None or DeliveryState(current) not in allowed:
        return False
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == current)
        .values(state=to_state.value, updated_at=now, **fields)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        DeliveryEvent(
            delivery_id=delivery_id,
            at=now,
            from_state=current,
            to_state=to_state.value,
            code=code,
            detail=detail,
        )
    )
    return True


def claim_delivery(session: Session, delivery_id: int, now: datetime) -> bool:
    """Claim a delivery for sending: ``pending`` (or ``held`` whose time has come) becomes
    ``sending`` in one conditional UPDATE, so two workers can never both send it.
    The caller commits before calling the provider."""
    row = session.execute(
        select(Delivery.state, Delivery.not_before).where(Delivery.id == delivery_id)
    ).one_or_none()
    if row is None:
        return False
    state, not_before = DeliveryState(row.state), row.not_before
    if state is DeliveryState.HELD:
        if not_before is None or as_utc(not_before) > now:
            return False
    elif state is not DeliveryState.PENDING:
        return False
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == state.value)
        .values(
            state=DeliveryState.SENDING.value,
            claimed_at=now,
            updated_at=now,
            attempts=Delivery.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        DeliveryEvent(delivery_id=delivery_id, at=now, from_state=state.value, to_state="sending")
    )
    return True


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
