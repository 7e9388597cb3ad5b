"""REST API for announcements: send (with idempotency keys and dry runs), read, list, cancel.

Every route needs an API token (``Authorization: Bearer ...``). A send builds the same
``AnnouncementRequest`` as ``dispatcher announce``: it is validated (templates previewed),
checked against the token's school and role, stored with an audit entry naming the token,
committed, and only then is its plan queued.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.access.roles import send_refusal
from dispatcher.access.tokens import TokenInfo
from dispatcher.audience import AudienceError, is_whole_school, parse_audience
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Urgency
from dispatcher.planning.preview import preview_plan
from dispatcher.runtime import Runtime
from dispatcher.store.models import (
    Announcement,
    School,
)
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    cancel,
    create_announcement,
    validate_request,
)
from dispatcher.web.auth import current_token, require_school, school_trust
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError, error_responses
from dispatcher.web.idempotency import commit_remembering, earlier_answer, request_fingerprint
from dispatcher.web.schemas import (
    MAX_ID,
    MAX_SEND_AHEAD,
    SLUG_PATTERN,
    AnnouncementIn,
    AnnouncementList,
    AnnouncementOut,
    CancelOut,
    PlanOut,
    announcement_out,
)

log = logging.getLogger("dispatcher.web.announcements")

router = APIRouter(prefix="/api/announcements", tags=["announcements"])


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


def checked_request(
    runtime: Runtime, token: TokenInfo, request: AnnouncementRequest
) -> tuple[SchoolConfig, CategoryPolicy]:
    """The school and category of ``request`` once it is valid (templates previewed) and
    ``token`` may send it; raises ``ApiError`` 422 or 403 naming the field otherwise."""
    try:
        school_cfg, category, _ = validate_request(runtime, request)
    except RequestError as exc:
        raise ApiError(422, _field(exc), str(exc).removeprefix(f"{exc.field}: ")) from None
    whole_school = is_whole_school(parse_audience(request.audience))
    refusal = send_refusal(
        token,
        request.school,
        category.name,
        category.urgency,
        whole_school,
        school_cfg.trust,
    )
    if refusal is not None:
        raise ApiError(403, *refusal)
    return school_cfg, category


def load_announcement(session: Session, announcement_id: int) -> tuple[Announcement, str]:
    """The announcement and its school's slug; 404 naming ``path.announcement_id`` if none."""
    row = session.execute(
        select(Announcement, School.slug)
        .join(School, School.id == Announcement.school_id)
        .where(Announcement.id == announcement_id)
    ).one_or_none()
    if row is None:
        raise ApiError(404, "path.announcement_id", f"no announcement {announcement_id}")
    return row[0], row[1]


AnnouncementId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Announcement id.", examples=[42])
]

DryRun = Annotated[
    bool,
    Query(
        description="Return the plan (counts per channel, languages, SMS segments, "
        "estimated cost, unreachable contacts) without storing or sending anything."
    ),
]

IdempotencyKey = Annotated[
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
        **error_responses(400, 401, 403, 409, 422, 503),
    },
)
def post_announcement(
    body: AnnouncementIn,
    dry_run: DryRun = False,
    idempotency_key: IdempotencyKey = None,
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
    require_school(token, body.school, "body.school", runtime)
    if body.send_at is not None and body.send_at - now > MAX_SEND_AHEAD:
        raise ApiError(422, "body.send_at", "at most a year ahead")
    school_cfg, category = checked_request(runtime, token, request)

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
        earlier = earlier_answer(session, scope, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
        announcement, _ = create_announcement(session, runtime, request, now)
        out = announcement_out(announcement, body.school).model_dump(mode="json")
        announcement_id, send_at = announcement.id, announcement.send_at
        winner = commit_remembering(
            session, scope, idempotency_key, fingerprint, announcement_id, out, now
        )
        if winner is not None:
            return winner
    enqueue_plan(announcement_id, send_at, now)
    return JSONResponse(
        out, status_code=201, headers={"Location": f"/api/announcements/{announcement_id}"}
    )


@router.get(
    "",
    summary="List announcements, newest first",
    response_model=AnnouncementList,
    responses=error_responses(401, 403, 422, 503),
)
def list_announcements(
    school: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=SLUG_PATTERN,
            description="Only this school's. A school token sees only its own school (the "
            "default), a trust token its trust's member schools, a token with neither every "
            "school, when this is left out.",
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
        require_school(token, school, "query.school", runtime)
        if school not in runtime.configuration.schools:
            raise ApiError(422, "query.school", f"unknown school {school!r}")
    wanted = school or token.school
    query = select(Announcement, School.slug).join(School, School.id == Announcement.school_id)
    if wanted is not None:
        query = query.where(School.slug == wanted)
    elif token.trust is not None:
        members = [s.slug for s in runtime.configuration.members(token.trust)]
        query = query.where(School.slug.in_(members))
    with runtime.sessions() as session:
        rows = session.execute(
            query.order_by(Announcement.id.desc()).limit(limit).offset(offset)
        ).all()
        return AnnouncementList(announcements=[announcement_out(a, slug) for a, slug in rows])


@router.get(
    "/{announcement_id}",
    summary="One announcement",
    response_model=AnnouncementOut,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_announcement(
    announcement_id: AnnouncementId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> AnnouncementOut:
    """An announcement of the token's school (any school for a trust token)."""
    with runtime.sessions() as session:
        announcement, slug = load_announcement(session, announcement_id)
        require_school(token, slug, "path.announcement_id", runtime)
        return announcement_out(announcement, slug)


@router.post(
    "/{announcement_id}/cancel",
    summary="Cancel what has not been sent yet",
    response_model=CancelOut,
    responses=error_responses(401, 403, 404, 422, 503),
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
        announcement, slug = load_announcement(session, announcement_id)
        require_school(token, slug, "path.announcement_id", runtime)
        try:
            whole_school = is_whole_school(parse_audience(list(announcement.audience)))
        except AudienceError:
            whole_school = True
        refusal = send_refusal(
            token,
            slug,
            announcement.category,
            Urgency(announcement.urgency),
            whole_school,
            school_trust(runtime, slug),
        )
        if refusal is not None:
            raise ApiError(403, "path.announcement_id", refusal[1])
        result = cancel(
            session, announcement, cancelled_by=token.name, now=now, audit={"token_id": token.id}
        )
        session.refresh(announcement)
        return CancelOut(
            announcement=announcement_out(announcement, slug),
            cancelled_deliveries=result.cancelled_deliveries,
            deliveries_by_state=result.deliveries_by_state,
        )
