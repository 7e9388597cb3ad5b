"""Moving deliveries through their states: the one place a delivery's state changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from dispatcher.domain import ALLOWED_TRANSITIONS, DeliveryState
from dispatcher.store.message_texts import KeptText
from dispatcher.store.models import Delivery, DeliveryEvent

#: How the event of a delivery sent back to wait for a stopped provider begins (the
#: provider refused our account; see ``channels.stops``).
WAITING_DETAIL = "provider configuration"


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


@dataclass(frozen=True)
class Claim:
    """Who claims: the worker process (``claimed_by``) and this claim's own token."""

    worker: str
    token: str

    @classmethod
    def new(cls, worker: str) -> Claim:
        """A fresh claim by ``worker``."""
        return cls(worker, uuid.uuid4().hex)


#: Claims made outside a worker (tests, tools): no heartbeat, so known dead at once.
NO_WORKER = Claim("unnamed", "0" * 32)


def claim_delivery(
    session: Session,
    delivery_id: int,
    now: datetime,
    current_state: DeliveryState | None = None,
    not_before: datetime | None = None,
    claim: Claim = NO_WORKER,
) -> bool:
    """Claim a delivery for sending: ``pending`` (or ``held`` whose time has come) becomes
    ``sending`` in one conditional UPDATE, so two workers can never both send it.
    ``current_state``/``not_before``, when the caller has just read them, save a query.
    The caller commits before calling the provider."""
    if current_state is None:
        row = session.execute(
            select(Delivery.state, Delivery.not_before).where(Delivery.id == delivery_id)
        ).one_or_none()
        if row is None:
            return False
        current_state, not_before = DeliveryState(row.state), row.not_before
    if current_state is DeliveryState.HELD:
        if not_before is None or as_utc(not_before) > now:
            return False
        return bool(claim_deliveries(session, [], [delivery_id], now, claim))
    if current_state is not DeliveryState.PENDING:
        return False
    return bool(claim_deliveries(session, [delivery_id], [], now, claim))


_DELIVERIES = cast(Table, Delivery.__table__)
_EVENTS = cast(Table, DeliveryEvent.__table__)
_EVENT_COLUMNS = ("delivery_id", "at", "from_state", "to_state", "code", "detail")

#: Claim the deliveries of ``ids`` still in ``from_state``; returns the ids claimed.
_CLAIM = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        _DELIVERIES.c.state == bindparam("from_state"),
    )
    .values(
        state=DeliveryState.SENDING.value,
        claimed_at=bindparam("now"),
        claimed_by=bindparam("worker"),
        claim_token=bindparam("token"),
        updated_at=bindparam("now"),
        attempts=_DELIVERIES.c.attempts + 1,
    )
    .returning(_DELIVERIES.c.id)
)

#: Hold the deliveries of ``ids`` still pending until ``until``; returns the ids held.
_HOLD = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        _DELIVERIES.c.state == DeliveryState.PENDING.value,
    )
    .values(
        state=DeliveryState.HELD.value, not_before=bindparam("until"), updated_at=bindparam("now")
    )
    .returning(_DELIVERIES.c.id)
)

#: One event per delivery of ``ids``, all with the same moment, states and detail.
_EVENTS_FOR_IDS = insert(_EVENTS).from_select(
    list(_EVENT_COLUMNS),
    select(
        _DELIVERIES.c.id,
        bindparam("at", type_=_EVENTS.c.at.type),
        bindparam("from_state", type_=_EVENTS.c.from_state.type),
        bindparam("to_state", type_=_EVENTS.c.to_state.type),
        null(),
        bindparam("detail", type_=_EVENTS.c.detail.type),
    ).where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True))),
)

#: Record one send (executemany): ``sending`` becomes ``sent``; a state a provider callback
#: already moved on is kept, gaining only the provider's id.
_RECORD_SENT = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("d_id"))
    .values(
        state=case(
            (_DELIVERIES.c.state == DeliveryState.SENDING.value, DeliveryState.SENT.value),
            else_=_DELIVERIES.c.state,
        ),
        sent_at=bindparam("d_at"),
        updated_at=bindparam("d_at"),
        provider=bindparam("d_provider"),
        provider_message_id=bindparam("d_message_id"),
        sms_segments=bindparam("d_segments"),
        provider_requests=_DELIVERIES.c.provider_requests + 1,
        # A receipt replayed from the send journal knows no text: the one stored stays.
        message_text_id=func.coalesce(
            bindparam("d_text_id", type_=_DELIVERIES.c.message_text_id.type),
            _DELIVERIES.c.message_text_id,
        ),
    )
)

_earlier = _EVENTS.alias("earlier")
#: The ``sending -> sent`` event of each delivery of ``ids`` now sent, unless one exists (a
#: provider's "sent" callback got there first).
_SENT_EVENTS = insert(_EVENTS).from_select(
    list(_EVENT_COLUMNS),
    select(
        _DELIVERIES.c.id,
        _DELIVERIES.c.sent_at,
        literal(DeliveryState.SENDING.value, _EVENTS.c.from_state.type),
        literal(DeliveryState.SENT.value, _EVENTS.c.to_state.type),
        null(),
        _DELIVERIES.c.provider,
    ).where(
        _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        _DELIVERIES.c.state == DeliveryState.SENT.value,
        ~exists().where(
            _earlier.c.delivery_id == _DELIVERIES.c.id,
            _earlier.c.to_state == DeliveryState.SENT.value,
        ),
    ),
)


def claim_deliveries(
    session: Session,
    pending: Sequence[int],
    due_held: Sequence[int],
    now: datetime,
    claim: Claim = NO_WORKER,
) -> list[int]:
    """Claim many deliveries at once: those of ``pending`` still pending and those of
    ``due_held`` still held become ``sending``, one conditional UPDATE per starting state.
    Returns the ids claimed (others were taken, sent or cancelled meanwhile); records an
    event for each. The caller has checked that ``due_held`` are due, and commits."""
    connection = session.connection()
    claimed: list[int] = []
    for state, ids in ((DeliveryState.PENDING, pending), (DeliveryState.HELD, due_held)):
        if not ids:
            continue
        taken = list(
            connection.execute(
                _CLAIM,
                {
                    "ids": list(ids),
                    "from_state": state.value,
                    "now": now,
                    "worker": claim.worker,
                    "token": claim.token,
                },
            ).scalars()
        )
        _record_events(session, taken, now, state, DeliveryState.SENDING)
        claimed.extend(taken)
    return claimed


def hold_deliveries(
    session: Session, ids: Sequence[int], until: datetime, now: datetime
) -> list[int]:
    """Hold those of ``ids`` still pending until ``until`` (outside the send window);
    return them. The caller commits."""
    if not ids:
        return []
    held = list(
        session.connection()
        .execute(_HOLD, {"ids": list(ids), "until": until, "now": now})
        .scalars()
    )
    _record_events(
        session, held, now, DeliveryState.PENDING, DeliveryState.HELD, "outside send window"
    )
    return held


@dataclass(frozen=True)
class SentRecord:
    """A provider accepted a delivery: when, which provider, its message id."""

    delivery_id: int
    at: datetime
    provider: str
    provider_message_id: str | None
    sms_segments: int | None
    #: The text the family was sent, when known (not for a receipt from the send journal).
    text: KeptText | None = None
    #: Its ``message_texts`` id, once stored.
    message_text_id: int | None = None


def record_sent(session: Session, records: Sequence[SentRecord]) -> None:
    """Record sends: each delivery still ``sending`` becomes ``sent`` with its provider's
    id (and ``message_text_id``, where the record has one), and gains its ``sending -> sent``
    event. A delivery a provider callback already moved on (delivered, undelivered) keeps
    that state and gains only the provider's id and its text. The caller commits."""
    if not records:
        return
    connection = session.connection()
    connection.execute(
        _RECORD_SENT,
        [
            {
                "d_id": r.delivery_id,
                "d_at": r.at,
                "d_provider": r.provider,
                "d_message_id": r.provider_message_id,
                "d_segments": r.sms_segments,
                "d_text_id": r.message_text_id,
            }
            for r in records
        ],
    )
    connection.execute(_SENT_EVENTS, {"ids": [r.delivery_id for r in records]})


def _record_events(
    session: Session,
    ids: Sequence[int],
    now: datetime,
    from_state: DeliveryState,
    to_state: DeliveryState,
    detail: str | None = None,
) -> None:
    if ids:
        session.connection().execute(
            _EVENTS_FOR_IDS,
            {
                "ids": list(ids),
                "at": now,
                "from_state": from_state.value,
                "to_state": to_state.value,
                "detail": detail,
            },
        )


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ClaimRelease:
    """A claimed delivery to put back to pending, if it is still that claim's."""

    delivery_id: int
    token: str | None
    #: Its request was in flight when its worker stopped: it may have been sent.
    maybe_sent: bool = False


def release_claims(
    session: Session, releases: Sequence[ClaimRelease], now: datetime, code: str, detail: str
) -> list[int]:
    """Put each delivery of ``releases`` still ``sending`` under the same claim back to
    pending, with an event; one whose request may have gone is marked
    ``possible_duplicate`` and counted as a provider request. Returns the ids released (a
    delivery settled or claimed again meanwhile is left alone). The caller commits."""
    released: list[int] = []
    for release in releases:
        conditions = [
            Delivery.id == release.delivery_id,
            Delivery.state == DeliveryState.SENDING.value,
        ]
        if release.token is not None:
            conditions.append(Delivery.claim_token == release.token)
        values: dict[str, Any] = {
            "state": DeliveryState.PENDING.value,
            "updated_at": now,
            "enqueued_at": now,
        }
        if release.maybe_sent:
            values["possible_duplicate"] = True
            values["provider_requests"] = Delivery.provider_requests + 1
        result = session.execute(
            update(Delivery)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            released.append(release.delivery_id)
            session.add(
                DeliveryEvent(
                    delivery_id=release.delivery_id,
                    at=now,
                    from_state=DeliveryState.SENDING.value,
                    to_state=DeliveryState.PENDING.value,
                    code=code if not release.maybe_sent else f"{code}_in_flight",
                    detail=detail if not release.maybe_sent else f"{detail}; it may have gone",
                )
            )
    return released


def still_unconfirmed(session: Session, claims: Sequence[tuple[int, str]]) -> set[int]:
    """Of (delivery id, claim token) pairs whose request lost its answer, the deliveries
    still ``sending`` under that claim (no status callback has settled them yet). Those a
    callback settled count the request that went. The caller commits."""
    if not claims:
        return set()
    tokens = dict(claims)
    rows = session.execute(
        select(Delivery.id, Delivery.state, Delivery.claim_token).where(
            Delivery.id.in_(sorted(tokens))
        )
    ).all()
    waiting = {
        r.id
        for r in rows
        if r.state == DeliveryState.SENDING.value and r.claim_token == tokens[r.id]
    }
    settled = sorted(
        r.id
        for r in rows
        if r.id not in waiting
        and r.claim_token == tokens[r.id]
        and r.state != DeliveryState.PENDING.value
    )
    if settled:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(settled))
            .values(provider_requests=Delivery.provider_requests + 1)
            .execution_options(synchronize_session=False)
        )
    return waiting


def mark_possible_duplicates(session: Session, delivery_ids: Iterable[int]) -> None:
    """Mark deliveries whose provider may have taken a request whose answer was lost (a
    timeout, a dropped connection) before it was tried again: the family may have had the
    message twice. Counts the lost request. The caller commits."""
    ids = sorted(set(delivery_ids))
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(possible_duplicate=True, provider_requests=Delivery.provider_requests + 1)
            .execution_options(synchronize_session=False)
        )
