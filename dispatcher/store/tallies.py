"""Reading and folding ``delivery_tallies``: how many of an announcement's deliveries are on
each channel in each state, without reading the deliveries (decision 0097).

The triggers of migration 0012 add rows as deliveries are written and move on; reading sums
the announcement's rows (a few per channel and state, plus those added since the last fold),
and folding replaces them by their sums, in one transaction, so a reader at any snapshot sees
the same totals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import DeliveryTally

_TALLIES = cast(Table, DeliveryTally.__table__)

#: The first key of the advisory lock a fold takes on PostgreSQL (the second is the
#: announcement's id): two viewers never fold the same announcement at once.
FOLD_LOCK = 0x7A11


@dataclass(frozen=True)
class Tally:
    """Deliveries on one channel in one state (``n``), and the first and last send time
    recorded for them (UTC), from ``rows`` tally rows."""

    channel: str
    state: str
    n: int
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    rows: int = 1


def read_tallies(session: Session, announcement_id: int) -> list[Tally]:
    """The announcement's tallies per channel and state, summed over its rows (an index
    range on ``announcement_id``: its folded rows and those written since)."""
    found = session.execute(
        select(
            DeliveryTally.channel,
            DeliveryTally.state,
            func.sum(DeliveryTally.n),
            func.min(DeliveryTally.first_sent_at),
            func.max(DeliveryTally.last_sent_at),
            func.count(),
        )
        .where(DeliveryTally.announcement_id == announcement_id)
        .group_by(DeliveryTally.channel, DeliveryTally.state)
    )
    return [
        Tally(
            channel,
            state,
            int(n or 0),
            as_utc(first) if first else None,
            as_utc(last) if last else None,
            int(rows),
        )
        for channel, state, n, first, last, rows in found
    ]


def merge_tallies(rows: Iterable[Tally]) -> list[Tally]:
    """Rows summed per channel and state (earliest first send, latest last send); a sum of
    zero with no send time is dropped, as it says nothing."""
    merged: dict[tuple[str, str], Tally] = {}
    for row in rows:
        key = (row.channel, row.state)
        seen = merged.get(key)
        if seen is None:
            merged[key] = Tally(row.channel, row.state, row.n, row.first_sent_at, row.last_sent_at)
            continue
        merged[key] = Tally(
            row.channel,
            row.state,
            seen.n + row.n,
            _earliest(seen.first_sent_at, row.first_sent_at),
            _latest(seen.last_sent_at, row.last_sent_at),
        )
    return [
        t
        for _, t in sorted(merged.items())
        if t.n != 0 or t.first_sent_at is not None or t.last_sent_at is not None
    ]


def fold_tallies(session: Session, announcement_id: int) -> int:
    """Replace the announcement's tally rows by one per channel and state (their sums), in
    the caller's transaction; return how many rows were folded. Rows written meanwhile by
    other transactions are left for the next fold. On PostgreSQL a fold already under way
    for the announcement makes this one do nothing (returns 0). The caller commits."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(FOLD_LOCK, announcement_id % 2**31))
    ):
        return 0
    taken = session.execute(
        delete(_TALLIES)
        .where(_TALLIES.c.announcement_id == announcement_id)
        .returning(
            _TALLIES.c.channel,
            _TALLIES.c.state,
            _TALLIES.c.n,
            _TALLIES.c.first_sent_at,
            _TALLIES.c.last_sent_at,
        )
    ).all()
    folded = merge_tallies(
        Tally(
            row.channel,
            row.state,
            row.n,
            as_utc(row.first_sent_at) if row.first_sent_at else None,
            as_utc(row.last_sent_at) if row.last_sent_at else None,
        )
        for row in taken
    )
    if folded:
        session.execute(
            insert(_TALLIES),
            [
                {
                    "announcement_id": announcement_id,
                    "channel": t.channel,
                    "state": t.state,
                    "n": t.n,
                    "first_sent_at": t.first_sent_at,
                    "last_sent_at": t.last_sent_at,
                }
                for t in folded
            ],
        )
    return len(taken)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
