"""Queries of two-person sign-off: storing a request, reading requests for the console,
moving a request out of ``waiting`` exactly once, and the notices to staff. Queries only:
who may do what is decided in ``dispatcher.signoff``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatcher.domain import SignOffState
from dispatcher.store.models import School, SignOffRequest, StaffAccount, StaffNotification


@dataclass(frozen=True)
class SignOffRow:
    """A stored request as the console and the decisions read it."""

    id: int
    school_id: int
    school_slug: str
    category: str
    request: dict[str, Any]
    requested_by_id: int
    requested_at: datetime
    state: SignOffState
    decided_by_id: int | None
    decided_at: datetime | None
    reason: str | None
    announcement_id: int | None

    @property
    def requested_by(self) -> str:
        """The requester's name in the audit log (``staff:<id>``)."""
        return f"staff:{self.requested_by_id}"

    @property
    def decided_by(self) -> str | None:
        """Who decided it (``staff:<id>``), or None while it waits."""
        return None if self.decided_by_id is None else f"staff:{self.decided_by_id}"


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes: they were stored in UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _row(request: SignOffRequest, slug: str) -> SignOffRow:
    requested_at = _utc(request.requested_at)
    assert requested_at is not None
    return SignOffRow(
        id=request.id,
        school_id=request.school_id,
        school_slug=slug,
        category=request.category,
        request=dict(request.request),
        requested_by_id=request.requested_by_id,
        requested_at=requested_at,
        state=SignOffState(request.state),
        decided_by_id=request.decided_by_id,
        decided_at=_utc(request.decided_at),
        reason=request.reason,
        announcement_id=request.announcement_id,
    )


def add_sign_off_request(
    session: Session,
    school_id: int,
    category: str,
    request: dict[str, Any],
    requested_by_id: int,
    now: datetime,
) -> int:
    """Store a waiting request and return its id (flushed, not committed)."""
    row = SignOffRequest(
        school_id=school_id,
        category=category,
        request=request,
        requested_by_id=requested_by_id,
        requested_at=now,
        state=SignOffState.WAITING.value,
    )
    session.add(row)
    session.flush()
    return row.id


def get_sign_off(session: Session, request_id: int) -> SignOffRow | None:
    """The request with id ``request_id``, or None."""
    found = session.execute(
        select(SignOffRequest, School.slug)
        .join(School, School.id == SignOffRequest.school_id)
        .where(SignOffRequest.id == request_id)
    ).one_or_none()
    return None if found is None else _row(found[0], found[1])


def waiting_for(
    session: Session, school_slugs: Sequence[str], not_by_id: int, limit: int = 50
) -> list[SignOffRow]:
    """Requests still waiting at ``school_slugs`` that ``not_by_id`` did not make, oldest
    first (the longest wait on top)."""
    if not school_slugs:
        return []
    rows = session.execute(
        select(SignOffRequest, School.slug)
        .join(School, School.id == SignOffRequest.school_id)
        .where(
            School.slug.in_(list(school_slugs)),
            SignOffRequest.state == SignOffState.WAITING.value,
            SignOffRequest.requested_by_id != not_by_id,
        )
        .order_by(SignOffRequest.requested_at, SignOffRequest.id)
        .limit(limit)
    ).all()
    return [_row(request, slug) for request, slug in rows]


def requested_by(session: Session, account_id: int, limit: int = 20) -> list[SignOffRow]:
    """The last ``limit`` requests ``account_id`` made, newest first."""
    rows = session.execute(
        select(SignOffRequest, School.slug)
        .join(School, School.id == SignOffRequest.school_id)
        .where(SignOffRequest.requested_by_id == account_id)
        .order_by(SignOffRequest.requested_at.desc(), SignOffRequest.id.desc())
        .limit(limit)
    ).all()
    return [_row(request, slug) for request, slug in rows]


def leave_waiting(
    session: Session,
    request_id: int,
    state: SignOffState,
    decided_by_id: int,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Move the request from ``waiting`` to ``state`` (who, when, why) and say whether this
    call did it: of two at once, one only (``UPDATE ... WHERE state = 'waiting'``; on
    PostgreSQL the second waits for the first's commit and then finds nothing to change).
    Not committed."""
    result = session.execute(
        update(SignOffRequest)
        .where(
            SignOffRequest.id == request_id,
            SignOffRequest.state == SignOffState.WAITING.value,
        )
        .values(state=state.value, decided_by_id=decided_by_id, decided_at=now, reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def set_announcement(session: Session, request_id: int, announcement_id: int) -> None:
    """Record the announcement the request became. Not committed."""
    session.execute(
        update(SignOffRequest)
        .where(SignOffRequest.id == request_id)
        .values(announcement_id=announcement_id)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class StaffContact:
    """A senior or admin who may be told of a request: the account and its scope."""

    id: int
    role: str
    school: str | None
    trust: str | None
    has_phone: bool


def deciders(session: Session, not_id: int) -> list[StaffContact]:
    """Every senior and admin account still on, other than ``not_id`` (the caller keeps
    those acting for the school)."""
    rows = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .where(
            StaffAccount.role.in_(["senior", "admin"]),
            StaffAccount.id != not_id,
            StaffAccount.disabled_at.is_(None),
        )
        .order_by(StaffAccount.id)
    ).all()
    return [
        StaffContact(account.id, account.role, slug, account.trust, bool(account.phone))
        for account, slug in rows
    ]


def add_notifications(
    session: Session, request_id: int, recipients: Sequence[tuple[int, str]], now: datetime
) -> list[int]:
    """Store a queued notice for each (account id, channel); return their ids (flushed,
    not committed)."""
    rows = [
        StaffNotification(
            sign_off_request_id=request_id,
            staff_account_id=account_id,
            channel=channel,
            state="queued",
            created_at=now,
        )
        for account_id, channel in recipients
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


def claim_notification(session: Session, notification_id: int) -> StaffNotification | None:
    """Take a queued notice for sending (``queued`` to ``sending``, once) and return it,
    or None when it is not queued (already sent, or another worker has it). Commits."""
    result = session.execute(
        update(StaffNotification)
        .where(StaffNotification.id == notification_id, StaffNotification.state == "queued")
        .values(state="sending")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(StaffNotification, notification_id)


def finish_notification(
    session: Session,
    notification_id: int,
    state: str,
    now: datetime,
    provider: str | None = None,
    provider_message_id: str | None = None,
    error: str | None = None,
) -> None:
    """Record what became of a notice: ``sent`` (provider, its id), ``failed`` (why) or
    ``queued`` again (to be retried). Commits."""
    session.execute(
        update(StaffNotification)
        .where(StaffNotification.id == notification_id)
        .values(
            state=state,
            provider=provider,
            provider_message_id=provider_message_id,
            error=error[:300] if error else None,
            sent_at=now if state == "sent" else None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def notifications_of(session: Session, request_id: int) -> list[StaffNotification]:
    """The notices of a request, in the order they were stored."""
    return list(
        session.scalars(
            select(StaffNotification)
            .where(StaffNotification.sign_off_request_id == request_id)
            .order_by(StaffNotification.id)
        )
    )
