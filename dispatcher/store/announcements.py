"""An announcement's state after planning: ``sending`` while any of its deliveries is open
(pending, held or sending), ``done`` once none is (decision 0068).

Two statements keep it, each safe to run at any time and from any process:
``finish_sending`` (sending -> done where no delivery is open) and ``reopen`` (done ->
sending, when a late fallback adds a delivery). A worker calls ``finish_sending`` after it
has committed a batch, so the last committer sees every other batch committed; the sweep runs
``settle_announcement_states`` for whatever a race or a crash left behind.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from dispatcher.domain import OPEN_STATES, AnnouncementState
from dispatcher.store.models import Announcement, Delivery

_OPEN = [state.value for state in OPEN_STATES]


def _has_open_delivery() -> object:
    return exists(
        select(Delivery.id).where(
            Delivery.announcement_id == Announcement.id, Delivery.state.in_(_OPEN)
        )
    )


def finish_sending(session: Session, announcement_ids: Collection[int] | None = None) -> int:
    """Mark ``done`` every ``sending`` announcement of ``announcement_ids`` (all, when None)
    with no open delivery; return how many. The caller commits."""
    statement = update(Announcement).where(
        Announcement.state == AnnouncementState.SENDING.value,
        ~_has_open_delivery(),  # type: ignore[operator]
    )
    if announcement_ids is not None:
        if not announcement_ids:
            return 0
        statement = statement.where(Announcement.id.in_(sorted(announcement_ids)))
    result = session.execute(
        statement.values(state=AnnouncementState.DONE.value).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def reopen(session: Session, announcement_ids: Collection[int] | None = None) -> int:
    """Mark ``sending`` again every ``done`` announcement of ``announcement_ids`` (all, when
    None) that has an open delivery (a fallback started after it was done); return how many.
    The caller commits."""
    # From the open deliveries (a small partial index), not from every done announcement.
    with_open = select(Delivery.announcement_id).where(Delivery.state.in_(_OPEN))
    statement = update(Announcement).where(
        Announcement.state == AnnouncementState.DONE.value, Announcement.id.in_(with_open)
    )
    if announcement_ids is not None:
        if not announcement_ids:
            return 0
        statement = statement.where(Announcement.id.in_(sorted(announcement_ids)))
    result = session.execute(
        statement.values(state=AnnouncementState.SENDING.value).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def settle_announcement_states(session: Session) -> int:
    """Both directions for every announcement (the sweep's backstop); return how many
    changed. The caller commits."""
    return finish_sending(session) + reopen(session)
