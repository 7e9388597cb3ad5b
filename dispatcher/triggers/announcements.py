"""Announcement requests: the one way any trigger (CLI, API, MIS webhook, clock) asks for a
message to go out, and the one way any of them cancels it. The request is validated,
previewed and stored before anything is queued; only then is its plan queued (``submit``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatcher.audience import AudienceError, is_whole_school, parse_audience
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import AnnouncementState, DeliveryState
from dispatcher.planning.preview import preview_templates
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.work import plan_work
from dispatcher.rendering.links import is_link_variable, link_problem
from dispatcher.rendering.templates import RenderedMessage, TemplateError
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import move_delivery
from dispatcher.store.models import Announcement, AuditEntry, Delivery
from dispatcher.store.schools import ensure_school

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


class RequestError(ValueError):
    """The request cannot be sent as it is; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class AnnouncementRequest(BaseModel):
    """What any trigger asks for: who, what, with which details, on whose authority."""

    model_config = ConfigDict(frozen=True)

    school: str = Field(description="School slug, e.g. demo.", examples=["demo"])
    category: str = Field(description="Category from policy.toml.", examples=["emergency_closure"])
    audience: list[str] = Field(
        description="school, year:N, class:NAME, group:NAME or student:ID (any number).",
        examples=[["school"]],
    )
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Template variables, e.g. date and reason.",
        examples=[{"date": "Tuesday 24 November", "reason": "heavy snow"}],
    )
    requested_by: str = Field(default="cli", description="Who asked (user or token name).")
    trigger: str = Field(default="cli", description="cli, api, console, mis or clock.")
    idempotency_key: str | None = Field(default=None, max_length=200)
    send_at: datetime | None = Field(default=None, description="Send later (UTC).")
    trust: str | None = Field(
        default=None,
        description="Set on each member school's request of a trust-wide announcement.",
    )


def trust_requests(
    runtime: Runtime, trust: str, request: AnnouncementRequest
) -> list[AnnouncementRequest]:
    """A trust-wide announcement as one request per member school of ``trust`` (each sent,
    rendered and reported as that school's own: its name, phone, sender id, reply-to address,
    send window and calendar). Raises ``RequestError`` naming ``trust`` for an unknown trust
    or one without member schools."""
    try:
        members = runtime.configuration.members(trust)
    except KeyError as exc:
        raise RequestError("trust", str(exc.args[0])) from None
    if not members:
        raise RequestError("trust", f"{trust!r} has no member schools (trust = {trust!r})")
    return [request.model_copy(update={"school": m.slug, "trust": trust}) for m in members]


def validate_request(
    runtime: Runtime, request: AnnouncementRequest
) -> tuple[SchoolConfig, CategoryPolicy, list[RenderedMessage]]:
    """Check school, category, audience and templates; return the rendered previews.

    Raises ``RequestError`` naming the field: an unknown school or category, a malformed
    audience, a link variable (``url``, ``*_url``, ``*_link``) that is not an https:// URL
    (``variables.<name>``), or a template variable the request does not give (caught here,
    at preview, not when the message is due to go out).
    """
    config = runtime.configuration
    try:
        school = config.school(request.school)
    except KeyError as exc:
        raise RequestError("school", str(exc.args[0])) from None
    try:
        category = config.policy.category(request.category)
    except KeyError as exc:
        raise RequestError("category", str(exc.args[0])) from None
    try:
        parse_audience(request.audience)
    except AudienceError as exc:
        raise RequestError("audience", str(exc)) from None
    for name, value in request.variables.items():
        problem = link_problem(value) if is_link_variable(name) else None
        if problem is not None:
            raise RequestError(f"variables.{name}", problem)
    try:
        previews = preview_templates(runtime.templates, school, category, request.variables)
    except TemplateError as exc:
        raise RequestError("variables", str(exc)) from None
    return school, category, previews


def create_announcement(
    session: Session, runtime: Runtime, request: AnnouncementRequest, now: datetime
) -> tuple[Announcement, bool]:
    """Store the announcement (or find the one with the same idempotency key).

    Returns ``(announcement, created)``. Writes an audit entry. The caller commits and then
    queues the plan; nothing is queued before the row exists.
    """
    school_cfg, category, _ = validate_request(runtime, request)
    school = ensure_school(session, school_cfg)
    if request.idempotency_key:
        existing = session.scalar(
            select(Announcement).where(
                Announcement.school_id == school.id,
                Announcement.idempotency_key == request.idempotency_key,
            )
        )
        if existing is not None:
            return existing, False
    selectors = parse_audience(request.audience)
    announcement = Announcement(
        school_id=school.id,
        category=category.name,
        urgency=category.urgency.value,
        audience=[str(s) for s in selectors],
        variables=dict(request.variables),
        requested_by=request.requested_by,
        trigger=request.trigger,
        idempotency_key=request.idempotency_key,
        state=AnnouncementState.RECEIVED,
        send_at=request.send_at.astimezone(UTC) if request.send_at else None,
        created_at=now,
    )
    session.add(announcement)
    session.flush()
    session.add(
        AuditEntry(
            at=now,
            actor=request.requested_by,
            action="announcement.created",
            school_id=school.id,
            announcement_id=announcement.id,
            detail={
                "category": category.name,
                "audience": announcement.audience,
                "trigger": request.trigger,
                "whole_school": is_whole_school(selectors),
                **({"trust": request.trust} if request.trust else {}),
            },
        )
    )
    return announcement, True


def submit(
    runtime: Runtime, broker: RedisBroker, request: AnnouncementRequest, now: datetime
) -> tuple[int, bool]:
    """Store the announcement (or find the one with the same idempotency key), commit, then
    queue its plan; return ``(id, created)``."""
    with runtime.sessions() as session:
        announcement, created = create_announcement(session, runtime, request, now)
        session.commit()
        announcement_id = announcement.id
        send_at = announcement.send_at
    if created:
        enqueue(broker, [plan_work(announcement_id, send_at, now)])
    return announcement_id, created


@dataclass(frozen=True)
class CancelResult:
    """What a cancel did: the deliveries it stopped, and every delivery by state after it
    (those already sending or sent could not be stopped)."""

    cancelled_deliveries: int
    deliveries_by_state: dict[str, int]


def cancel(
    session: Session,
    announcement: Announcement,
    *,
    cancelled_by: str,
    now: datetime,
    audit: Mapping[str, Any] | None = None,
) -> CancelResult:
    """Cancel every delivery of ``announcement`` not yet sent (pending or held) and mark it
    cancelled, so that one still being planned writes nothing more; record who did it in the
    audit log (with ``audit`` added to the entry's detail) and commit. The caller has checked
    that ``cancelled_by`` may. Repeating a cancel changes nothing more."""
    announcement_id = announcement.id
    # Taking the row first (an UPDATE locks it on PostgreSQL) orders this cancel after any
    # plan batch already being written, so its deliveries are found below.
    session.execute(
        update(Announcement)
        .where(Announcement.id == announcement_id)
        .values(state=AnnouncementState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    open_ids = session.scalars(
        select(Delivery.id).where(
            Delivery.announcement_id == announcement_id,
            Delivery.state.in_([DeliveryState.PENDING.value, DeliveryState.HELD.value]),
        )
    ).all()
    cancelled = 0
    for delivery_id in open_ids:
        cancelled += move_delivery(
            session,
            delivery_id,
            DeliveryState.CANCELLED,
            now=now,
            code="cancelled",
            detail=f"announcement cancelled by {cancelled_by}"[:300],
            only_from=[DeliveryState.PENDING, DeliveryState.HELD],
        )
    session.add(
        AuditEntry(
            at=now,
            actor=cancelled_by,
            action="announcement.cancelled",
            school_id=announcement.school_id,
            announcement_id=announcement_id,
            detail={"cancelled_deliveries": cancelled, **(audit or {})},
        )
    )
    session.commit()
    by_state = {
        state: n
        for state, n in session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.state)
        )
    }
    return CancelResult(cancelled, by_state)
