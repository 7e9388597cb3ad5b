"""REST API for the office's call log: the calls made to families an announcement did not
reach (``dispatcher calls``; decision 0084). Any token that may read the announcement may
log a call to its families; the token's name is recorded as who phoned."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends

from dispatcher.access.tokens import TokenInfo
from dispatcher.runtime import Runtime
from dispatcher.store.calls import calls_of
from dispatcher.tracking.calls import CallLogError, log_call
from dispatcher.web.auth import current_token, require_school
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError, error_responses
from dispatcher.web.routes.announcements import AnnouncementId, load_announcement
from dispatcher.web.schemas import CallIn, CallList, CallOut

router = APIRouter(prefix="/api/announcements", tags=["calls"])

_FIELDS = {"contact": "body.contact_id", "student": "body.student_id", "note": "body.note"}


@router.post(
    "/{announcement_id}/calls",
    status_code=201,
    summary="Log a phone call to a family about the announcement",
    response_model=CallOut,
    responses=error_responses(401, 403, 404, 422, 503),
)
def post_call(
    announcement_id: AnnouncementId,
    body: CallIn,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> CallOut:
    """Record a call and its outcome (also in the audit log): a family told (reached, or a
    voicemail left) leaves the report's families to phone."""
    with runtime.sessions() as session:
        _, slug = load_announcement(session, announcement_id)
        require_school(token, slug, "path.announcement_id", runtime)
        try:
            entry = log_call(
                session,
                announcement_id,
                contact=body.contact_id,
                student=body.student_id,
                outcome=body.outcome.value,
                note=body.note,
                called_by=token.name,
                now=datetime.now(UTC),
            )
        except CallLogError as exc:
            raise ApiError(422, _FIELDS.get(exc.field, f"body.{exc.field}"), exc.message) from None
        return CallOut.model_validate(entry.as_json())


@router.get(
    "/{announcement_id}/calls",
    summary="The calls logged for the announcement",
    response_model=CallList,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_calls(
    announcement_id: AnnouncementId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> CallList:
    """Every call logged for the announcement, oldest first."""
    with runtime.sessions() as session:
        _, slug = load_announcement(session, announcement_id)
        require_school(token, slug, "path.announcement_id", runtime)
        return CallList(
            calls=[CallOut.model_validate(e.as_json()) for e in calls_of(session, announcement_id)]
        )
