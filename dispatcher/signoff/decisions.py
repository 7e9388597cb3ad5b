"""Deciding a sign-off request: approve (which creates the announcement, on the
requester's authority, in the same transaction that moves the request out of waiting, so it
is sent exactly once however many seniors click at once), reject with a reason, withdraw,
or break-glass (the requester sends alone once the school's delay has passed; logged as an
ALERT and recorded in the audit log). The caller queues the returned work after the commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.access.roles import Role
from dispatcher.access.staff import StaffInfo
from dispatcher.audience import is_whole_school, parse_audience
from dispatcher.domain import SignOffState, Urgency
from dispatcher.queue.work import QueuedWork, plan_work
from dispatcher.runtime import Runtime
from dispatcher.signoff.rules import (
    RequestFacts,
    break_glass_opens_at,
    decision_refusal,
    may_break_glass,
    requester_refusal,
)
from dispatcher.store.models import AuditEntry
from dispatcher.store.sign_offs import SignOffRow, get_sign_off, leave_waiting, set_announcement
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
)

log = logging.getLogger("dispatcher.signoff")

#: The longest reason a rejection keeps.
MAX_REASON = 500


class DecisionError(Exception):
    """The decision cannot be taken; ``status`` is the HTTP status it deserves (404 no such
    request, 403 not yours to take, 409 already decided, 400 a bad form) and the message is
    in plain words for the person."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Decided:
    """What a decision did: the request's new state, the announcement (approve and
    break-glass) and the work to queue once committed."""

    state: SignOffState
    announcement_id: int | None = None
    work: list[QueuedWork] = field(default_factory=list)


def facts_of(runtime: Runtime, row: SignOffRow) -> RequestFacts:
    """What deciding ``row`` depends on, from the stored request and the configuration;
    ``DecisionError`` 404 when its school is no longer configured."""
    school = runtime.configuration.schools.get(row.school_slug)
    if school is None:
        raise DecisionError(404, "There is no such sign-off request.")
    policy = runtime.configuration.policy.categories.get(row.category)
    # A category no longer configured is taken as urgent (the strictest rule); sending it
    # is refused by the request's validation, in words.
    urgency = policy.urgency if policy is not None else Urgency.URGENT
    selectors = parse_audience(list(row.request.get("audience", [])))
    return RequestFacts(
        school=row.school_slug,
        school_trust=school.trust,
        category=row.category,
        urgency=urgency,
        whole_school=is_whole_school(selectors),
        requested_by=row.requested_by,
        state=row.state,
    )


def load(session: Session, request_id: int) -> SignOffRow:
    """The request, or ``DecisionError`` 404."""
    row = get_sign_off(session, request_id)
    if row is None:
        raise DecisionError(404, "There is no such sign-off request.")
    return row


def _end_read(session: Session) -> None:
    # The checks above only read; ending their transaction lets the conditional UPDATE
    # start a new one, which on SQLite takes the write lock first (a reading transaction
    # that then writes after another's commit would fail instead of waiting).
    session.rollback()


def _status_of(message: str) -> int:
    return 409 if message.startswith("This request has already") else 403


def _audit(
    session: Session,
    row: SignOffRow,
    actor: str,
    action: str,
    now: datetime,
    announcement_id: int | None = None,
    **detail: object,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action=action,
            school_id=row.school_id,
            announcement_id=announcement_id,
            detail={"sign_off_request": row.id, "requested_by": row.requested_by, **detail},
        )
    )


def _send(
    session: Session, runtime: Runtime, row: SignOffRow, now: datetime
) -> tuple[int, list[QueuedWork]]:
    request = AnnouncementRequest.model_validate(row.request)
    try:
        announcement, created = create_announcement(session, runtime, request, now)
    except RequestError as exc:
        session.rollback()
        raise DecisionError(
            409, f"The announcement cannot be sent as it was asked for: {exc}"
        ) from None
    set_announcement(session, row.id, announcement.id)
    work = [plan_work(announcement.id, announcement.send_at, now)] if created else []
    return announcement.id, work


def approve(
    session: Session,
    runtime: Runtime,
    request_id: int,
    approver: StaffInfo,
    now: datetime,
) -> Decided:
    """Approve the request and create its announcement (requested by the requester; the
    audit entry ``sign_off.approved`` names the approver). Exactly once: a second approval,
    at the same moment or later, gets ``DecisionError`` 409. The caller has checked the
    approver's fresh code. Commits."""
    row = load(session, request_id)
    refusal = decision_refusal(approver, facts_of(runtime, row))
    if refusal is not None:
        raise DecisionError(_status_of(refusal), refusal)
    _end_read(session)
    if not leave_waiting(session, row.id, SignOffState.APPROVED, approver.id, now):
        session.rollback()
        raise DecisionError(409, "This request has already been decided.")
    announcement_id, work = _send(session, runtime, row, now)
    _audit(
        session,
        row,
        approver.name,
        "sign_off.approved",
        now,
        announcement_id,
        approved_by=approver.name,
    )
    session.commit()
    return Decided(SignOffState.APPROVED, announcement_id, work)


def reject(
    session: Session,
    runtime: Runtime,
    request_id: int,
    decider: StaffInfo,
    reason: str,
    now: datetime,
) -> Decided:
    """Reject the request with ``reason`` (required, at most ``MAX_REASON`` characters,
    kept with the request and not in the audit log, which may be exported). Commits."""
    row = load(session, request_id)
    refusal = decision_refusal(decider, facts_of(runtime, row))
    if refusal is not None:
        raise DecisionError(_status_of(refusal), refusal)
    reason = reason.strip()
    if not reason:
        raise DecisionError(400, "Enter the reason for rejecting it")
    if len(reason) > MAX_REASON:
        raise DecisionError(400, f"The reason must be {MAX_REASON} characters or fewer")
    _end_read(session)
    if not leave_waiting(session, row.id, SignOffState.REJECTED, decider.id, now, reason):
        session.rollback()
        raise DecisionError(409, "This request has already been decided.")
    _audit(session, row, decider.name, "sign_off.rejected", now, rejected_by=decider.name)
    session.commit()
    return Decided(SignOffState.REJECTED)


def withdraw(
    session: Session,
    runtime: Runtime,
    request_id: int,
    requester: StaffInfo,
    now: datetime,
) -> Decided:
    """The requester takes the request back; nothing is sent. Commits."""
    row = load(session, request_id)
    refusal = requester_refusal(requester, facts_of(runtime, row))
    if refusal is not None:
        raise DecisionError(_status_of(refusal), refusal)
    _end_read(session)
    if not leave_waiting(session, row.id, SignOffState.WITHDRAWN, requester.id, now):
        session.rollback()
        raise DecisionError(409, "This request has already been decided.")
    _audit(session, row, requester.name, "sign_off.withdrawn", now)
    session.commit()
    return Decided(SignOffState.WITHDRAWN)


def break_glass(
    session: Session,
    runtime: Runtime,
    request_id: int,
    requester: StaffInfo,
    now: datetime,
) -> Decided:
    """Send the request alone: only its requester (a senior or admin), only once the
    school's break-glass delay has passed with no decision. Logged as an ALERT and
    recorded in the audit log (``sign_off.break_glass``). Commits."""
    row = load(session, request_id)
    refusal = requester_refusal(requester, facts_of(runtime, row))
    if refusal is not None:
        raise DecisionError(_status_of(refusal), refusal)
    if requester.role not in (Role.SENIOR, Role.ADMIN):
        raise DecisionError(403, "Only a senior or admin account can send without sign-off.")
    sign_off = runtime.configuration.schools[row.school_slug].sign_off
    if not may_break_glass(sign_off, row.requested_at, now):
        opens = break_glass_opens_at(sign_off, row.requested_at)
        raise DecisionError(
            403,
            "This school does not allow sending without sign-off."
            if opens is None
            else f"You can send it alone from {opens:%H:%M} UTC if nobody has decided by then.",
        )
    _end_read(session)
    if not leave_waiting(session, row.id, SignOffState.BROKE_GLASS, requester.id, now):
        session.rollback()
        raise DecisionError(409, "This request has already been decided.")
    announcement_id, work = _send(session, runtime, row, now)
    waited = int((now - row.requested_at).total_seconds() // 60)
    _audit(
        session,
        row,
        requester.name,
        "sign_off.break_glass",
        now,
        announcement_id,
        waited_minutes=waited,
        alert="sent without a second senior's sign-off",
    )
    session.commit()
    log.warning(
        "ALERT sign-off request %s (%s at %s) sent by %s alone (break-glass) after %s "
        "minutes without a decision: announcement %s",
        row.id,
        row.category,
        row.school_slug,
        requester.name,
        waited,
        announcement_id,
    )
    return Decided(SignOffState.BROKE_GLASS, announcement_id, work)
