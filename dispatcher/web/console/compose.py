"""Composing an announcement in the console, one question a page: the school (for staff
of several), the category, who gets it, its details, then "Check before sending" with the
preview of what parents will read, and the send (now or at a time).

Every step is a GET form whose answers travel in the query string to the next step, which
checks them and shows the step again with its errors if they are wrong; nothing is stored
until the final POST (with its CSRF token and an idempotency key made on the check page).
No JavaScript is needed.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dispatcher.domain import Channel, MessageFormat
from dispatcher.planning.preview import sample_context
from dispatcher.rendering.templates import TemplateError
from dispatcher.web.console.compose_checks import (
    check_audience,
    check_category,
    check_details,
    check_school,
    request_of,
)
from dispatcher.web.console.compose_pages import (
    Step,
    audience_page,
    category_page,
    details_page,
    not_found_page,
    refused_page,
    school_page,
)
from dispatcher.web.console.compose_state import AUDIENCE_FIELD, Draft, clean_text, read_draft
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.home import schools_of
from dispatcher.web.console.preview_view import build_preview
from dispatcher.web.console.sending import AwaitingSignOff, Invalid, Refused, send_from_console

router = APIRouter(include_in_schema=False)

#: The email frame's own policy: its inline styles, nothing else; framed by this site only.
EMAIL_FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


def _step(request: Request, console: Console) -> Step | Response:
    session = console.session_of(request, now_utc())
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    return Step(console, session, account, read_draft(request.query_params.multi_items()))


@router.get("/compose")
def compose(request: Request, console: Console = Depends(get_console)) -> Response:
    """The first step: the school (skipped for staff of one school)."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    slugs = schools_of(console.runtime, step.account)
    if not slugs:
        return refused_page(step, "school")
    if len(slugs) == 1:
        return RedirectResponse(Draft(school=slugs[0]).url("/compose/category"), status_code=303)
    return school_page(step, [])


@router.get("/compose/category")
def category_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """The category, each described with its channels and whether it waits."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = check_school(step)
    if isinstance(checked, Response):
        return checked
    return category_page(step, checked.school, [])


@router.get("/compose/audience")
def audience_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """Who gets it: the whole school, years, classes, groups, students found by name."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = check_category(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None
    search = clean_text(request.query_params.get("q"), 100)
    return audience_page(step, checked.school, checked.category, [], search=search)


@router.get("/compose/details")
def details_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """The details the category's templates need, and when to send it."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = check_audience(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None and checked.fields is not None
    return details_page(step, checked.school, checked.category, checked.fields, [])


@router.get("/compose/check")
def check_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """Check before sending: the preview of what parents will read, and the send button."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    now = now_utc()
    checked = check_details(step, now)
    if isinstance(checked, Response):
        return checked
    announcement = request_of(step, checked, None)
    with console.runtime.sessions() as db:
        preview = build_preview(console.runtime, db, announcement, now)
        db.commit()
    return step.page(
        "compose_check.html",
        "Check before sending",
        preview=preview,
        idempotency_key=uuid.uuid4().hex,
        scheduled=checked.details is not None and checked.details.send_at is not None,
    )


@router.post("/compose/send")
async def send(request: Request, console: Console = Depends(get_console)) -> Response:
    """Send the checked announcement (once, however often the button is pressed) and go
    to its page."""
    posted = await checked_post(request, console)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    account = console.account_of(session)
    if account is None:
        return RedirectResponse("/sign-in", status_code=303)
    step = Step(console, session, account, read_draft(form.multi_items()))
    now = now_utc()
    checked = check_details(step, now)
    if isinstance(checked, Response):
        return checked
    key = field_of(form, "idempotency_key").strip()[:64] or None
    announcement = request_of(step, checked, f"console:{key}" if key else None)
    outcome = send_from_console(console.runtime, account, announcement, now)
    if isinstance(outcome, Refused):
        return refused_page(step, outcome.field, checked.category)
    if isinstance(outcome, Invalid):
        assert checked.category is not None and checked.fields is not None
        return details_page(
            step,
            checked.school,
            checked.category,
            checked.fields,
            [(checked.fields[0].id if checked.fields else AUDIENCE_FIELD, outcome.message)],
            400,
        )
    if isinstance(outcome, AwaitingSignOff):
        return RedirectResponse(f"/sign-off/{outcome.request_id}", status_code=303)
    return RedirectResponse(f"/announcements/{outcome.announcement_id}", status_code=303)


@router.get("/compose/email")
def email_frame(request: Request, console: Console = Depends(get_console)) -> Response:
    """The email of a preview, whole, for the preview's sandboxed frame (its own policy:
    its inline styles and nothing else)."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    runtime = console.runtime
    params = request.query_params
    school = runtime.configuration.schools.get(params.get("school") or "")
    category = runtime.configuration.policy.categories.get(params.get("category") or "")
    language = params.get("language") or ""
    try:
        fmt = MessageFormat(params.get("format") or "standard")
    except ValueError:
        fmt = MessageFormat.STANDARD
    if school is None or category is None or language not in school.languages:
        return not_found_page(step)
    if school.slug not in schools_of(runtime, step.account):
        return refused_page(step, "school")
    variables = {
        name.removeprefix("val-"): clean_text(value)
        for name, value in params.items()
        if name.startswith("val-")
    }
    try:
        email = runtime.templates.render(
            category.name, Channel.EMAIL, language, fmt, sample_context(school, variables)
        )
    except TemplateError:
        return not_found_page(step)
    return HTMLResponse(
        email.html or "",
        headers={
            "Content-Security-Policy": EMAIL_FRAME_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )
