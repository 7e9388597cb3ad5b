"""REST API for trust-wide announcements: one request, one announcement per member school.

The same as ``dispatcher announce --trust`` (decision 0074): the request is expanded into one
request per member school (``trust_requests``), each checked as a school's own request
(templates, role, the token's scope), and either all are stored in one transaction or none
is; then each one's plan is queued. A school token cannot send trust-wide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from dispatcher.access.tokens import TokenInfo
from dispatcher.planning.preview import preview_plan
from dispatcher.runtime import Runtime
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    trust_requests,
)
from dispatcher.web.auth import current_token
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError, error_responses
from dispatcher.web.idempotency import commit_remembering, earlier_answer, request_fingerprint
from dispatcher.web.routes.announcements import (
    DryRun,
    IdempotencyKey,
    checked_request,
    enqueue_plan,
)
from dispatcher.web.schemas import (
    MAX_SEND_AHEAD,
    SLUG_PATTERN,
    PlanOut,
    TrustAnnouncementIn,
    TrustAnnouncementsOut,
    TrustPlanOut,
    announcement_out,
)

router = APIRouter(prefix="/api/trusts", tags=["announcements"])

TrustSlug = Annotated[
    str,
    Path(
        max_length=64,
        pattern=SLUG_PATTERN,
        description="The trust's slug (its file name under `config/trusts/`).",
        examples=["sendat"],
    ),
]


def _scope_refusal(token: TokenInfo, trust: str) -> str | None:
    """Why ``token`` may not send to every school of ``trust``, or None."""
    if token.school is not None:
        return (
            f"token {token.name!r} is for school {token.school!r}: a trust-wide announcement "
            f"needs a token of trust {trust!r} or one for every school"
        )
    if token.trust is not None and token.trust != trust:
        return f"token {token.name!r} is for the schools of trust {token.trust!r}, not {trust!r}"
    return None


@router.post(
    "/{trust}/announcements",
    status_code=201,
    summary="Send an announcement to every member school of a trust (or preview it)",
    response_model=TrustAnnouncementsOut,
    responses={
        200: {
            "description": "A repeat of an earlier request with the same `Idempotency-Key` and "
            "body: the first answer again. With `dry_run=true`: each member school's plan "
            "(nothing stored or sent).",
            "model": TrustAnnouncementsOut | TrustPlanOut,
        },
        201: {
            "description": "Stored, one announcement per member school; their plans are queued.",
            "model": TrustAnnouncementsOut,
        },
        **error_responses(400, 401, 403, 404, 409, 422, 503),
    },
)
def post_trust_announcement(
    trust: TrustSlug,
    body: TrustAnnouncementIn,
    dry_run: DryRun = False,
    idempotency_key: IdempotencyKey = None,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> Any:
    """Send one announcement to every member school of ``trust``, each with its own name,
    phone, sender and send window; all are stored or none is."""
    now = datetime.now(UTC)
    refusal = _scope_refusal(token, trust)
    if refusal is not None:
        raise ApiError(403, "path.trust", refusal)
    if body.send_at is not None and body.send_at - now > MAX_SEND_AHEAD:
        raise ApiError(422, "body.send_at", "at most a year ahead")
    template = AnnouncementRequest(
        school="",
        category=body.category,
        audience=list(body.audience),
        variables=dict(body.variables),
        requested_by=token.name,
        trigger="api",
        send_at=body.send_at,
    )
    try:
        requests = trust_requests(runtime, trust, template)
    except RequestError as exc:
        raise ApiError(404, "path.trust", str(exc).removeprefix("trust: ")) from None
    checked = [(request, *checked_request(runtime, token, request)) for request in requests]

    if dry_run:
        plans = []
        with runtime.sessions() as session:
            for request, school_cfg, category in checked:
                summary = preview_plan(
                    runtime, session, school_cfg, category, request.audience, request.variables, now
                )
                plans.append(PlanOut.model_validate(summary.as_json()))
            session.commit()
        return JSONResponse(TrustPlanOut(trust=trust, schools=plans).model_dump(mode="json"))

    fingerprint = request_fingerprint(body)
    scope, key = f"{token.id}:trust:{trust}", idempotency_key
    with runtime.sessions() as session:
        earlier = earlier_answer(session, scope, key, fingerprint)
        if earlier is not None:
            return earlier
        created = [
            (create_announcement(session, runtime, request, now)[0], request.school)
            for request, _, _ in checked
        ]
        out = TrustAnnouncementsOut(
            trust=trust, announcements=[announcement_out(a, slug) for a, slug in created]
        ).model_dump(mode="json")
        queued = [(a.id, a.send_at) for a, _ in created]
        winner = commit_remembering(session, scope, key, fingerprint, queued[0][0], out, now)
        if winner is not None:
            return winner
    for announcement_id, send_at in queued:
        enqueue_plan(announcement_id, send_at, now)
    return JSONResponse(out, status_code=201)
