"""Route: an announcement's report (the same dictionary as ``dispatcher report --json``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.access.tokens import TokenInfo
from dispatcher.reporting.progress import announcement_progress
from dispatcher.reporting.reports import NotFound, announcement_report
from dispatcher.runtime import Runtime
from dispatcher.store.models import Announcement, School
from dispatcher.web.auth import current_token, require_school
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError, error_responses
from dispatcher.web.schemas import ProgressOut

router = APIRouter(prefix="/api/announcements", tags=["reports"])

ReportedId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Announcement id.", examples=[42])]

_REPORT_EXAMPLE = {
    "announcement_id": 42,
    "school": "demo",
    "category": "emergency_closure",
    "urgency": "urgent",
    "audience": ["school"],
    "state": "done",
    "requested_by": "senior-demo",
    "created_at": "2026-11-24T06:45:02+00:00",
    "recipients": 412,
    "counts": {"email": {"sent": 398}, "sms": {"sent": 380, "failed": 3}},
    "deliveries_by_kind": {"primary": 412, "backup": 380},
    "language_fallbacks": 4,
    "excluded": {"no_contact order": 2},
    "first_sent_at": "2026-11-24T06:45:05+00:00",
    "last_sent_at": "2026-11-24T06:46:10+00:00",
    "waiting_for_provider": {},
    "not_reached": [
        {
            "student_id": "S104",
            "student_name": "Ada Lovelace",
            "contact_id": "C220",
            "contact_name": "Anne Lovelace",
            "phone": "+441632960001",
            "reason": "no channel: landline only",
        }
    ],
}


@router.get(
    "/{announcement_id}/report",
    summary="What happened to an announcement, and who the office should phone",
    responses={
        200: {
            "description": "Counts by channel and state (`counts`), deliveries by kind, "
            "language fallbacks, contacts excluded by policy (counted, never listed), first "
            "and last send times, and `not_reached`: the families no channel reached, with "
            "the phone number to try. The same object as `dispatcher report ID --json`.",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "additionalProperties": True},
                    "example": _REPORT_EXAMPLE,
                }
            },
        },
        **error_responses(401, 403, 404, 422, 503),
    },
)
def get_report(
    announcement_id: ReportedId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    """The announcement's report; a token for another school gets 403."""
    with runtime.sessions() as session:
        _check_school(session, token, announcement_id, runtime)
        try:
            return announcement_report(session, announcement_id, runtime.configuration)
        except NotFound as exc:
            raise ApiError(404, "path.announcement_id", str(exc)) from None


@router.get(
    "/{announcement_id}/progress",
    summary="How far an announcement has got (cheap: poll it every 2 s while it sends)",
    response_model=ProgressOut,
    responses=error_responses(401, 403, 404, 422, 503),
)
def get_progress(
    announcement_id: ReportedId,
    token: TokenInfo = Depends(current_token),
    runtime: Runtime = Depends(get_runtime),
) -> ProgressOut:
    """Per channel pending, sent, delivered, failed and cancelled; the share through; the
    first and last send. A token for another school gets 403."""
    with runtime.sessions() as session:
        _check_school(session, token, announcement_id, runtime)
        try:
            return ProgressOut.model_validate(announcement_progress(session, announcement_id))
        except NotFound as exc:
            raise ApiError(404, "path.announcement_id", str(exc)) from None


def _check_school(
    session: Session, token: TokenInfo, announcement_id: int, runtime: Runtime
) -> None:
    """404 for an unknown announcement, 403 when ``token`` may not see its school."""
    slug = session.scalar(
        select(School.slug)
        .join(Announcement, Announcement.school_id == School.id)
        .where(Announcement.id == announcement_id)
    )
    if slug is None:
        raise ApiError(404, "path.announcement_id", f"no announcement {announcement_id}")
    require_school(token, slug, "path.announcement_id", runtime)
