"""REST API for announcements: send (with idempotency keys and dry runs), read, list, cancel.

Every route needs an API token (``Authorization: Bearer ...``). A send builds the same
``AnnouncementRequest`` as ``dispatcher announce``: it is validated (templates previewed),
checked against the token's school and role, stored with an audit entry naming the token,
committed, and only then is its plan queued.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.access.roles import send_refusal
from dispatcher.access.tokens import TokenInfo
from dispatcher.audience import AudienceError, is_whole_school, parse_audience
from dispatcher.domain import AnnouncementState, DeliveryState, Urgency
from dispatcher.planning.preview import preview_plan
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import as_utc, move_delivery
from dispatcher.store.models import (
    Announcement,
    AuditEntry,
    Delivery,
    IdempotencyRecord,
    School,
)
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    validate_request,
)
from dispatcher.web.auth import current_token, require_school
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError, error_responses

log = logging.getLogger("dispatcher.web.announcements")

router = APIRouter(prefix="/api/announcements", tags=["announcements"])

#: Largest id the databases hold (BIGINT).
MAX_ID = 2**63 - 1
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
#: How far ahead an announcement may be scheduled.
MAX_SEND_AHEAD = timedelta(days=366)


def plain_text(value: str) -> str:
    """Accept text without NUL, other control characters (tab and line breaks are fine) or
    unpaired surrogates: what every database and channel can hold."""
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("must be valid Unicode text (it holds an unpaired surrogate)")
        if (code < 0x20 and char not in "\t\n\r") or code == 0x7F:
            raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(plain_text)]


class AnnouncementIn(BaseModel):
    """What to send: the same request as ``dispatcher announce``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "school": "demo",
                    "category": "trip_letter",
                    "audience": ["year:6"],
                    "variables": {
                        "trip": "Year 6 residential",
                        "date": "Monday 8 June",
                        "letter_url": "https://demo-primary.example/letters/y6-residential",
                    },
                },
                {
                    "school": "demo",
                    "category": "emergency_closure",
                    "audience": ["school"],
                    "variables": {"date": "Tuesday 24 November", "reason": "heavy snow"},
                },
            ]
        },
    )

    school: str = Field(
        max_length=64,
        pattern=SLUG_PATTERN,
        description="The school's slug (its file name under `config/schools/`).",
        examples=["demo"],
    )
    category: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_]+$",
        description="A category of `config/policy.toml`: emergency_closure, "
        "short_notice_change, payment_request, trip_letter, consent_request, term_dates, "
        "event_reminder, newsletter or survey. Urgent categories need a senior or admin "
        "token.",
        examples=["trip_letter"],
    )
    audience: list[Annotated[PlainText, Field(min_length=1, max_length=120)]] = Field(
        min_length=1,
        max_length=50,
        description="Who it is for, any number of: `school` (whole school: senior or admin "
        "tokens only), `year:6` (`year:R` reception, `year:N` nursery), `class:6B`, "
        "`group:trip-paris`, `student:<MIS id>`.",
        examples=[["year:6"], ["class:6B", "group:choir"]],
    )
    variables: dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
        Annotated[PlainText, Field(max_length=2000)],
    ] = Field(
        default_factory=dict,
        max_length=50,
        description="The category's template variables (see the README's Templates section), "
        "e.g. `date` and `reason` for an emergency closure. A missing one is a 422 naming it.",
        examples=[{"date": "Tuesday 24 November", "reason": "heavy snow"}],
    )
    send_at: AwareDatetime | None = Field(
        default=None,
        description="Send later (at most a year ahead): an ISO 8601 time with its offset. "
        "Omitted or in the past: now. Non-urgent messages still wait for the school's send "
        "window.",
        examples=["2026-11-24T07:00:00Z"],
    )

    @field_validator("send_at")
    @classmethod
    def _representable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            in_utc = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("not a time we can represent in UTC") from None
        if in_utc.year < 2000:
            raise ValueError("must be after the year 2000")
        return value


class AnnouncementOut(BaseModel):
    """An announcement and how far it has got."""

    id: int = Field(description="Announcement id.", examples=[42])
    school: str = Field(description="School slug.", examples=["demo"])
    category: str = Field(description="Category.", examples=["trip_letter"])
    urgency: str = Field(description="urgent, normal or bulk.", examples=["normal"])
    audience: list[str] = Field(description="Audience, normalised.", examples=[["year:6"]])
    variables: dict[str, str] = Field(description="Template variables as sent.")
    state: str = Field(
        description="received (stored, plan queued), planning, planned (every delivery "
        "written) or cancelled.",
        examples=["received"],
    )
    requested_by: str = Field(description="Token name (or CLI user).", examples=["office-demo"])
    trigger: str = Field(description="api, cli, mis or clock.", examples=["api"])
    send_at: datetime | None = Field(description="When it is to be sent, if later.")
    created_at: datetime = Field(description="When it was stored.")
    planned_at: datetime | None = Field(description="When planning finished.")
    planned_deliveries: int = Field(description="Deliveries written so far.", examples=[412])
    recipients: int = Field(description="Contacts receiving it (so far).", examples=[230])
    excluded_contacts: int = Field(description="Contacts excluded by policy (counted only).")
    unreachable_contacts: int = Field(description="Contacts no channel can reach.")


class UnreachableContact(BaseModel):
    """A contact no channel can reach: the office should phone them."""

    student_id: str = Field(description="Student's MIS id.")
    student_name: str = Field(description="Student's name.")
    contact_id: str = Field(description="Contact's MIS id.")
    contact_name: str = Field(description="Contact's name.")
    phone: str = Field(description="Phone number in E.164, empty when none.")
    reason: str = Field(description="Why no channel can reach them.")


class PlanOut(BaseModel):
    """What sending would do (``?dry_run=true``): nothing is stored or sent."""

    announcement_id: None = Field(default=None, description="Always null: nothing was stored.")
    school: str = Field(description="School slug.")
    category: str = Field(description="Category.")
    urgency: str = Field(description="urgent, normal or bulk.")
    audience: list[str] = Field(description="Audience as given.")
    recipients: int = Field(description="Contacts who would receive it.")
    deliveries: dict[str, int] = Field(
        description="Messages per channel.", examples=[{"sms": 180, "email": 240}]
    )
    email_backups: int = Field(description="Of which email back-ups (urgent categories).")
    languages: dict[str, int] = Field(
        description="Messages per language.", examples=[{"en": 400, "pl": 12}]
    )
    language_fallbacks: int = Field(
        description="Messages in the school's default language because the category has no "
        "template in the contact's."
    )
    excluded: dict[str, int] = Field(description="Contacts excluded by policy, by reason.")
    unreachable: list[UnreachableContact] = Field(description="Contacts no channel can reach.")
    sms_segments: int = Field(description="SMS segments in total.")
    sms_encodings: dict[str, str] = Field(description="SMS encoding per language (GSM-7 or UCS-2).")
    estimated_cost_gbp: str = Field(description="Estimated cost in pounds.", examples=["3.42"])
    hold_until: datetime | None = Field(
        description="When the send window opens, if messages would wait for it."
    )


class AnnouncementList(BaseModel):
    """A page of announcements, newest first."""

    announcements: list[AnnouncementOut] = Field(description="The announcements.")


class CancelOut(BaseModel):
    """The result of a cancel."""

    announcement: AnnouncementOut = Field(description="The announcement, now cancelled.")
    cancelled_deliveries: int = Field(
        description="Deliveries that had not gone yet (pending or held) and now never will."
    )
    deliveries_by_state: dict[str, int] = Field(
        description="Every delivery of the announcement by state, after the cancel: those "
        "already sending or sent could not be stopped.",
        examples=[{"cancelled": 300, "sent": 112}],
    )


# --- helpers -----------------------------------------------------------------------------------


def announcement_out(announcement: Announcement, school: str) -> AnnouncementOut:
    """The API view of an announcement row."""

    def utc(moment: datetime | None) -> datetime | None:
        return as_utc(moment) if moment is not None else None

    return AnnouncementOut(
        id=announcement.id,
        school=school,
        category=announcement.category,
        urgency=announcement.urgency,
        audience=list(announcement.audience),
        variables={str(k): str(v) for k, v in dict(announcement.variables).items()},
        state=announcement.state,
        requested_by=announcement.requested_by,
        trigger=announcement.trigger,
        send_at=utc(announcement.send_at),
        created_at=as_utc(announcement.created_at),
        planned_at=utc(announcement.planned_at),
        planned_deliveries=announcement.planned_deliveries,
        recipients=announcement.recipients,
        excluded_contacts=announcement.excluded_contacts,
        unreachable_contacts=announcement.unreachable_contacts,
    )


def request_fingerprint(body: AnnouncementIn) -> str:
    """SHA-256 of the request body in a canonical form: equal requests, equal fingerprints
    (``send_at`` compared as an instant, whatever offset it was written with)."""
    data = body.model_dump(mode="json", exclude={"send_at"})
    data["send_at"] = body.send_at.astimezone(UTC).isoformat() if body.send_at else None
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _field(error: RequestError) -> str:
    return f"body.{error.field}"


def enqueue_plan(announcement_id: int, send_at: datetime | None, now: datetime) -> None:
    """Queue the announcement's plan exactly as ``dispatcher announce`` does (after commit).

    If Redis cannot be reached the announcement is still stored; the recovery sweep queues
    its plan later.
    """
    from dispatcher.queue.enqueue import enqueue
    from dispatcher.queue.work import plan_work
    from dispatcher.worker.actors import broker

    try:
        enqueue(broker, [plan_work(announcement_id, send_at, now)])
    except RedisError:
        log.warning(
            "announcement %d stored but its plan could not be queued; the sweep will",
            announcement_id,
        )


def _load(session: Session, announcement_id: int) -> tuple[Announcement, str]:
    row = session.execute(
        select(Announcement, School.slug)
        .join(School, School.id == Announcement.school_id)
        .where(Announcement.id == announcement_id)
    ).one_or_none()
    if row is None:
        raise ApiError(404, "path.announcement_id", f"no announcement {announcement_id}")
    return row[0], row[1]


def _replay(record: IdempotencyRecord, fingerprint: str) -> JSONResponse:
    if record.request_hash != fingerprint:
        raise ApiError(
            409,
            "header.Idempotency-Key",
            "this key was already used for a different request; use a new key for a new "
            "announcement",
        )
    return JSONResponse(record.response, status_code=200)


AnnouncementId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Announcement id.", examples=[42])
]


# --- routes --------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    summary="Send an announcement (or preview it with dry_run=true)",
    response_model=AnnouncementOut,
    responses={
        200: {
            "description": "A repeat of an earlier request with the same `Idempotency-Key` and "
            "body: the first answer again (no second announcement). With `dry_run=true`: the "
            "plan (nothing stored or sent).",
            "model": AnnouncementOut | PlanOut,
        },
        201: {"description": "Stored; its plan is queued.", "model": AnnouncementOut},
        **error_responses(401, 403, 409, 422),
    },
)
def post_announcement(
    body: AnnouncementIn,
    dry_run: Annotated[
        bool,
        Query(
            description="Return the plan (counts per channel, languages, SMS segments, "
            "estimated cost, unreachable contacts) without storing or sending anything."
        ),
    ] = False,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="Any unique string (e.g. a UUID) for this announcement. Repeating a "
            "request with the same key and body returns the first answer (200) instead of "
            "sending twice; the same key with another body is refused (409). Keys are "
            "per token.",
            examples=["5f0c8a52-3b7e-4a4e-9d8f-0d6c1b1f2a90"],
        ),
    ] = None,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> Any:
    """Send an announcement to an audience of one school."""
    now = datetime.now(UTC)
    request = AnnouncementRequest(
        school=body.school,
        category=body.category,
        audience=list(body.audience),
        variables=dict(body.variables),
        requested_by=token.name,
        trigger="api",
        send_at=body.send_at,
    )
    require_school(token, body.school, "body.school")
    if body.send_at is not None and body.send_at - now > MAX_SEND_AHEAD:
        raise ApiError(422, "body.send_at", "at most a year ahead")
    try:
        school_cfg, category, _ = validate_request(runtime, request)
    except RequestError as exc:
        raise ApiError(422, _field(exc), str(exc).removeprefix(f"{exc.field}: ")) from None
    whole_school = is_whole_school(parse_audience(request.audience))
    refusal = send_refusal(token, body.school, category.name, category.urgency, whole_school)
    if refusal is not None:
        raise ApiError(403, *refusal)

    if dry_run:
        with runtime.sessions() as session:
            summary = preview_plan(
                runtime, session, school_cfg, category, request.audience, request.variables, now
            )
            session.commit()
        return JSONResponse(PlanOut.model_validate(summary.as_json()).model_dump(mode="json"))

    fingerprint = request_fingerprint(body)
    scope = str(token.id)
    with runtime.sessions() as session:
        if idempotency_key is not None:
            record = _find_record(session, scope, idempotency_key)
            if record is not None:
                return _replay(record, fingerprint)
        announcement, _ = create_announcement(session, runtime, request, now)
        out = announcement_out(announcement, body.school).model_dump(mode="json")
        announcement_id, send_at = announcement.id, announcement.send_at
        if idempotency_key is not None:
            session.add(
                IdempotencyRecord(
                    scope=scope,
                    key=idempotency_key,
                    request_hash=fingerprint,
                    announcement_id=announcement_id,
                    status_code=201,
                    response=out,
                    created_at=now,
                )
            )
        try:
            session.commit()
        except IntegrityError:
            # Another request with the same key won the race: answer as its repeat.
            session.rollback()
            record = _find_record(session, scope, idempotency_key or "")
            if record is None:
                raise
            return _replay(record, fingerprint)
    enqueue_plan(announcement_id, send_at, now)
    return JSONResponse(
        out, status_code=201, headers={"Location": f"/api/announcements/{announcement_id}"}
    )


def _find_record(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )


@router.get(
    "",
    summary="List announcements, newest first",
    response_model=AnnouncementList,
    responses=error_responses(401, 403, 422),
)
def list_announcements(
    school: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=SLUG_PATTERN,
            description="Only this school's. A school token sees only its own school (the "
            "default); a trust token sees every school when this is left out.",
            examples=["demo"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many.")] = 0,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> AnnouncementList:
    """Announcements the token may see."""
    if school is not None:
        require_school(token, school, "query.school")
        if school not in runtime.configuration.schools:
            raise ApiError(422, "query.school", f"unknown school {school!r}")
    wanted = school or token.school
    query = select(Announcement, School.slug).join(School, School.id == Announcement.school_id)
    if wanted is not None:
        query = query.where(School.slug == wanted)
    with runtime.sessions() as session:
        rows = session.execute(
            query.order_by(Announcement.id.desc()).limit(limit).offset(offset)
        ).all()
        return AnnouncementList(announcements=[announcement_out(a, slug) for a, slug in rows])


@router.get(
    "/{announcement_id}",
    summary="One announcement",
    response_model=AnnouncementOut,
    responses=error_responses(401, 403, 404, 422),
)
def get_announcement(
    announcement_id: AnnouncementId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> AnnouncementOut:
    """An announcement of the token's school (any school for a trust token)."""
    with runtime.sessions() as session:
        announcement, slug = _load(session, announcement_id)
        require_school(token, slug, "path.announcement_id")
        return announcement_out(announcement, slug)


@router.post(
    "/{announcement_id}/cancel",
    summary="Cancel what has not been sent yet",
    response_model=CancelOut,
    responses=error_responses(401, 403, 404, 422),
)
def cancel_announcement(
    announcement_id: AnnouncementId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> CancelOut:
    """Cancel every delivery not yet sent (pending or held) and mark the announcement
    cancelled; one still to be planned is never planned. Messages already sending or sent
    cannot be called back. Cancelling needs the role that may send the announcement.
    Repeating a cancel is harmless."""
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        announcement, slug = _load(session, announcement_id)
        require_school(token, slug, "path.announcement_id")
        try:
            whole_school = is_whole_school(parse_audience(list(announcement.audience)))
        except AudienceError:
            whole_school = True
        refusal = send_refusal(
            token, slug, announcement.category, Urgency(announcement.urgency), whole_school
        )
        if refusal is not None:
            raise ApiError(403, "path.announcement_id", refusal[1])
        # Taking the row first (an UPDATE locks it on PostgreSQL) orders this cancel after
        # any plan batch already being written, so its deliveries are found below.
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
                detail=f"announcement cancelled by {token.name}"[:300],
                only_from=[DeliveryState.PENDING, DeliveryState.HELD],
            )
        session.add(
            AuditEntry(
                at=now,
                actor=token.name,
                action="announcement.cancelled",
                school_id=announcement.school_id,
                announcement_id=announcement_id,
                detail={"cancelled_deliveries": cancelled, "token_id": token.id},
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
        session.refresh(announcement)
        return CancelOut(
            announcement=announcement_out(announcement, slug),
            cancelled_deliveries=cancelled,
            deliveries_by_state=by_state,
        )
