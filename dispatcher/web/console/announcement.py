"""The announcement page: what was sent, to whom, by whom, its live progress (per channel
pending / sent / delivered / failed / cancelled, a progress bar, first and last send), the
families not reached (a summary and a link) and the replies; the JSON its script asks for
every two seconds; and the cancel, confirmed on a page of its own (decision 0091)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.responses import RedirectResponse, Response

from dispatcher.access.roles import send_refusal
from dispatcher.access.staff import staff_named
from dispatcher.audience import AudienceError, is_whole_school, parse_audience
from dispatcher.domain import AnnouncementState, Urgency
from dispatcher.planning.windows import local_time_in_words
from dispatcher.rendering.languages import language_name
from dispatcher.reporting.headline import plural
from dispatcher.reporting.progress import announcement_progress
from dispatcher.reporting.reports import families_not_reached, not_reached_contacts
from dispatcher.store.announcement_reads import replies_of, sample_texts, state_counts
from dispatcher.store.deliveries import as_utc
from dispatcher.triggers.announcements import cancel
from dispatcher.web.console import not_reached
from dispatcher.web.console.announcement_access import Found, Viewer, find_for, lookup, viewer_of
from dispatcher.web.console.announcement_words import (
    COLUMN_WORDS,
    COLUMNS,
    STATE_WORDS,
    audience_words,
    cancel_counts,
    cancel_refusal_words,
    channel_words,
    progress_view,
)
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.forms import checked_post
from dispatcher.web.console.home import category_words
from dispatcher.web.console.pages import render

router = APIRouter(include_in_schema=False)
router.include_router(not_reached.router)

#: What a STOP or START did, beside it.
REPLY_WORDS = {
    "stop": "Asked to stop texts: no more text messages go to this number",
    "start": "Asked to start texts again",
}

#: How often the page's script asks for the progress, in milliseconds.
POLL_MS = 2000


def _refusal(viewer: Viewer, found: Found) -> str | None:
    """Why the viewer may not cancel the announcement, in plain words; None when they may
    (the API's rule: the role that may send it)."""
    announcement = found.announcement
    try:
        whole_school = is_whole_school(parse_audience(list(announcement.audience)))
    except AudienceError:
        whole_school = True
    refusal = send_refusal(
        viewer.account,
        found.school.slug,
        announcement.category,
        Urgency(announcement.urgency),
        whole_school,
        found.school.trust,
    )
    return None if refusal is None else cancel_refusal_words(refusal[0])


def _progress(console: Console, found: Found) -> dict[str, Any]:
    with console.runtime.sessions() as db:
        progress = announcement_progress(db, found.announcement.id)
    return progress_view(progress, found.school.tz)


def _who(console: Console, name: str) -> str:
    """Who asked, as the office knows them: a staff account's email, else the name kept."""
    with console.runtime.sessions() as db:
        account = staff_named(db, name)
    return account.email if account is not None else name


def _summary(console: Console, found: Found) -> dict[str, Any]:
    """What the page says about the announcement itself."""
    announcement = found.announcement
    policy = console.runtime.configuration.policy.categories.get(announcement.category)
    state_words, colour = STATE_WORDS[AnnouncementState(announcement.state)]
    return {
        "id": announcement.id,
        "category": category_words(console.runtime, announcement.category),
        "urgent": announcement.urgency == Urgency.URGENT.value,
        "school": found.school.name,
        "audience": audience_words(list(announcement.audience)),
        "requested_by": _who(console, announcement.requested_by),
        "created": local_time_in_words(as_utc(announcement.created_at), found.school.tz),
        "send_at": (
            local_time_in_words(as_utc(announcement.send_at), found.school.tz)
            if announcement.send_at
            else None
        ),
        "state": state_words,
        "colour": colour,
        "channels": [channel_words(c.value) for c in policy.channels] if policy else [],
    }


@router.get("/announcements/{announcement_id}")
def announcement_page(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The announcement's page, with its progress as of now (the page's script keeps it
    up to date)."""
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    runtime = console.runtime
    with runtime.sessions() as db:
        not_reached = not_reached_contacts(db, found.announcement.id, runtime.configuration)
        texts = sample_texts(db, found.announcement.id)
        replies = replies_of(db, found.announcement.id)
    progress = _progress(console, found)
    state = AnnouncementState(found.announcement.state)
    cancelled = request.query_params.get("cancelled", "")
    refusal = _refusal(viewer, found)
    send_at = found.announcement.send_at
    return render(
        "announcement.html",
        title=f"Announcement {found.announcement.id}",
        account=viewer.account,
        csrf_token=viewer.session.csrf_token,
        a=_summary(console, found),
        progress=progress,
        columns=[(c, COLUMN_WORDS[c]) for c in COLUMNS],
        poll_ms=POLL_MS,
        may_cancel=state is not AnnouncementState.CANCELLED and not progress["finished"],
        may_cancel_role=refusal is None,
        scheduled=send_at is not None and as_utc(send_at) > now_utc(),
        cancel_refusal=refusal or "",
        cancelled_now=int(cancelled) if cancelled.isdigit() and len(cancelled) < 10 else None,
        families_to_phone=families_not_reached(not_reached),
        replies=[
            {
                "at": local_time_in_words(as_utc(reply.received_at), found.school.tz),
                "name": reply.contact_name or "A number not on the roster",
                "kind": REPLY_WORDS.get(reply.kind, ""),
                "body": reply.body,
            }
            for reply in replies
        ],
        texts=[
            {
                "channel": channel_words(t.channel),
                "language": language_name(t.language),
                "format": t.format.replace("_", " "),
                "subject": t.subject,
                "body": t.body,
            }
            for t in texts
        ],
    )


@router.get("/announcements/{announcement_id}/progress.json")
def progress_json(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The announcement's progress in words (``announcement_words.progress_view``) for the
    page's script: 401 when signed out, 404 when not the account's to see."""
    viewer = viewer_of(request, console)
    headers = {"Cache-Control": "no-store"}
    if not isinstance(viewer, Viewer):
        return JSONResponse({"error": "signed out"}, status_code=401, headers=headers)
    found = find_for(console, viewer.account, announcement_id)
    if found is None:
        return JSONResponse({"error": "not found"}, status_code=404, headers=headers)
    return JSONResponse(_progress(console, found), headers=headers)


def _forbidden(viewer: Viewer, found: Found, reason: str) -> Response:
    return render(
        "message.html",
        status_code=403,
        title="You cannot cancel this announcement",
        account=viewer.account,
        csrf_token=viewer.session.csrf_token,
        paragraphs=[reason, "Nothing was changed."],
        link=(f"/announcements/{found.announcement.id}", "Back to the announcement"),
    )


@router.get("/announcements/{announcement_id}/cancel")
def cancel_page(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The confirmation before a cancel: how many messages it stops, how many are gone."""
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    reason = _refusal(viewer, found)
    if reason is not None:
        return _forbidden(viewer, found, reason)
    with console.runtime.sessions() as db:
        stops, gone = cancel_counts(state_counts(db, found.announcement.id))
    return render(
        "announcement_cancel.html",
        title=f"Cancel announcement {found.announcement.id}",
        account=viewer.account,
        csrf_token=viewer.session.csrf_token,
        a=_summary(console, found),
        stops=plural(stops, "message"),
        gone=plural(gone, "message"),
        nothing_left=stops == 0,
    )


@router.post("/announcements/{announcement_id}/cancel")
async def cancel_post(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Cancel every message not yet sent (CSRF-checked; the role that may send it), then
    back to the announcement's page saying how many were cancelled."""
    checked = await checked_post(request, console)
    if not isinstance(checked, tuple):
        return checked
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    reason = _refusal(viewer, found)
    if reason is not None:
        return _forbidden(viewer, found, reason)
    with console.runtime.sessions() as db:
        announcement = db.get(type(found.announcement), found.announcement.id)
        assert announcement is not None
        result = cancel(
            db,
            announcement,
            cancelled_by=viewer.account.name,
            now=now_utc(),
            audit={"staff_id": viewer.account.id},
        )
    return RedirectResponse(
        f"/announcements/{found.announcement.id}?cancelled={result.cancelled_deliveries}",
        status_code=303,
    )
