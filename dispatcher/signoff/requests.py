"""Asking for a second senior's sign-off: the exact announcement request is stored as
waiting, with an audit entry and a queued notice (a text and an email) for every other
senior and admin acting for the school. Nothing reaches a family until someone approves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from dispatcher.access.roles import RequesterKind, Role, may_act_for, send_refusal
from dispatcher.access.staff import StaffInfo
from dispatcher.audience import AudienceError, is_whole_school, parse_audience
from dispatcher.domain import Channel
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.signoff.rules import needs_sign_off
from dispatcher.store.models import AuditEntry
from dispatcher.store.schools import ensure_school
from dispatcher.store.sign_offs import (
    StaffContact,
    add_notifications,
    add_sign_off_request,
    deciders,
)
from dispatcher.triggers.announcements import AnnouncementRequest, RequestError, validate_request

#: The actor that sends one notice to a senior (``dispatcher.worker.actors``).
NOTICE_ACTOR = "notify_staff"


@dataclass(frozen=True)
class _Decider:
    """A stored senior or admin as the role rules see them."""

    contact: StaffContact

    @property
    def name(self) -> str:
        return f"staff:{self.contact.id}"

    @property
    def kind(self) -> RequesterKind:
        return RequesterKind.ACCOUNT

    @property
    def role(self) -> Role:
        return Role(self.contact.role)

    @property
    def school(self) -> str | None:
        return self.contact.school

    @property
    def trust(self) -> str | None:
        return self.contact.trust


def notice_work(notification_ids: list[int]) -> list[QueuedWork]:
    """The queue messages that send these notices (one each, on the urgent queue)."""
    return [QueuedWork(NOTICE_ACTOR, notification_id) for notification_id in notification_ids]


def recipients_for(
    contacts: list[StaffContact], school: str, school_trust: str | None
) -> list[tuple[int, str]]:
    """Who is told of a request at ``school`` and how: each senior or admin acting for it
    gets an email, and a text too when their account has a mobile number."""
    told: list[tuple[int, str]] = []
    for contact in contacts:
        if not may_act_for(_Decider(contact), school, school_trust):
            continue
        told.append((contact.id, Channel.EMAIL.value))
        if contact.has_phone:
            told.append((contact.id, Channel.SMS.value))
    return told


def request_needs_sign_off(runtime: Runtime, request: AnnouncementRequest) -> bool:
    """Whether ``request`` must wait for a second senior at its school (``needs_sign_off``
    with the school's settings, the category and the audience); False for an unknown school
    or category, which sending refuses anyway."""
    school = runtime.configuration.schools.get(request.school)
    category = runtime.configuration.policy.categories.get(request.category)
    if school is None or category is None:
        return False
    try:
        whole_school = is_whole_school(parse_audience(list(request.audience)))
    except AudienceError:
        return False
    return needs_sign_off(school.sign_off, category, whole_school)


def store_sign_off_request(
    session: Session,
    runtime: Runtime,
    request: AnnouncementRequest,
    account: StaffInfo,
    now: datetime,
) -> tuple[int, list[QueuedWork]]:
    """Store ``request`` (on ``account``'s authority) as waiting for sign-off, with its
    audit entry and a notice for each other senior and admin of the school; commit and
    return the request's id and the work that sends the notices (queue it after).

    Raises ``RequestError`` naming the field when the request is not valid (as sending
    would) or ``account`` may not send it at all (an office account and an urgent category).
    """
    school_cfg, category, _ = validate_request(runtime, request)
    selectors = parse_audience(list(request.audience))
    whole_school = is_whole_school(selectors)
    refusal = send_refusal(
        account, school_cfg.slug, category.name, category.urgency, whole_school, school_cfg.trust
    )
    if refusal is not None:
        field, _reason = refusal
        raise RequestError(field.removeprefix("body."), "your account may not send this")
    school = ensure_school(session, school_cfg)
    stored = request.model_copy(update={"requested_by": account.name, "trigger": "console"})
    request_id = add_sign_off_request(
        session, school.id, category.name, stored.model_dump(mode="json"), account.id, now
    )
    told = recipients_for(deciders(session, account.id), school_cfg.slug, school_cfg.trust)
    notification_ids = add_notifications(session, request_id, told, now)
    session.add(
        AuditEntry(
            at=now,
            actor=account.name,
            action="sign_off.requested",
            school_id=school.id,
            detail={
                "sign_off_request": request_id,
                "category": category.name,
                "audience": [str(s) for s in selectors],
                "whole_school": whole_school,
                "told": sorted({f"staff:{account_id}" for account_id, _ in told}),
            },
        )
    )
    session.commit()
    return request_id, notice_work(notification_ids)
