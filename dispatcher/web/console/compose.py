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
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dispatcher.access.roles import send_refusal
from dispatcher.access.staff import StaffInfo
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel, MessageFormat
from dispatcher.planning.preview import sample_context
from dispatcher.rendering.templates import TemplateError, TemplateLibrary
from dispatcher.store.audience_choices import audience_choices, search_students, students_by_id
from dispatcher.triggers.announcements import AnnouncementRequest
from dispatcher.web.console.compose_state import (
    AUDIENCE_FIELD,
    CheckedDetails,
    Draft,
    Errors,
    audience_problem,
    check_templates,
    checked_details,
    clean_text,
    read_draft,
)
from dispatcher.web.console.compose_words import (
    VariableField,
    category_name,
    channels_in_words,
    send_window_words,
    variable_fields,
    year_words,
)
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.home import schools_of
from dispatcher.web.console.pages import render
from dispatcher.web.console.preview_view import build_preview
from dispatcher.web.console.sending import Invalid, Refused, refusal_of, send_from_console
from dispatcher.web.console.sessions import ConsoleSession

router = APIRouter(include_in_schema=False)

#: The email frame's own policy: its inline styles, nothing else; framed by this site only.
EMAIL_FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)

_REFUSALS = {
    "school": "Your account does not send for this school.",
    "category": (
        "Your account cannot send {category}: it is urgent, and urgent messages need a "
        "senior or admin account. Ask your head teacher or a deputy to send it."
    ),
    "audience": (
        "Your account cannot send to the whole school: that needs a senior or admin "
        "account. Choose years, classes, groups or students instead, or ask a senior."
    ),
}


@dataclass(frozen=True)
class Step:
    """Who is composing, and their draft."""

    console: Console
    session: ConsoleSession
    account: StaffInfo
    draft: Draft

    def page(
        self, template: str, title: str, status_code: int = 200, **context: object
    ) -> Response:
        """``template`` for this person, with the draft in ``draft``."""
        return render(
            template,
            status_code=status_code,
            title=title,
            account=self.account,
            csrf_token=self.session.csrf_token,
            draft=self.draft,
            **context,
        )


def _step(request: Request, console: Console) -> Step | Response:
    session = console.session_of(request, now_utc())
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    return Step(console, session, account, read_draft(request.query_params.multi_items()))


def _refused(step: Step, field: str, category: CategoryPolicy | None = None) -> Response:
    words = category_name(category).lower() if category else "this category"
    return step.page(
        "message.html",
        "You cannot send this",
        status_code=403,
        paragraphs=[_REFUSALS[field].format(category=words), "Nothing was sent."],
        link=("/compose", "Start again"),
    )


def _not_found(step: Step) -> Response:
    return step.page(
        "message.html",
        "Page not found",
        status_code=404,
        paragraphs=["There is no such school or category. Start the announcement again."],
        link=("/compose", "Start again"),
    )


# --- the steps' pages ----------------------------------------------------------------


def _school_page(step: Step, errors: Errors, status_code: int = 200) -> Response:
    runtime = step.console.runtime
    schools = [
        (slug, runtime.configuration.schools[slug].name)
        for slug in schools_of(runtime, step.account)
    ]
    return step.page(
        "compose_school.html",
        "Which school is it for?",
        status_code,
        errors=errors,
        schools=schools,
    )


def _categories(step: Step, school: SchoolConfig) -> tuple[list[dict[str, str]], list[str]]:
    runtime = step.console.runtime
    offered: list[dict[str, str]] = []
    withheld: list[str] = []
    with_templates = runtime.templates.categories()
    for name, category in runtime.configuration.policy.categories.items():
        if name not in with_templates:
            continue
        refusal = send_refusal(
            step.account, school.slug, name, category.urgency, False, school.trust
        )
        if refusal is not None:
            withheld.append(category_name(category))
            continue
        offered.append(
            {
                "value": name,
                "name": category_name(category),
                "description": category.description,
                "channels": channels_in_words(school, category),
                "window": send_window_words(school, category),
            }
        )
    return offered, withheld


def _category_page(
    step: Step, school: SchoolConfig, errors: Errors, status_code: int = 200
) -> Response:
    offered, withheld = _categories(step, school)
    return step.page(
        "compose_category.html",
        "What is it about?",
        status_code,
        errors=errors,
        school=school,
        categories=offered,
        withheld=withheld,
        several_schools=len(schools_of(step.console.runtime, step.account)) > 1,
    )


def _audience_page(
    step: Step,
    school: SchoolConfig,
    category: CategoryPolicy,
    errors: Errors,
    status_code: int = 200,
    search: str = "",
) -> Response:
    runtime = step.console.runtime
    chosen_students = [p.partition(":")[2] for p in step.draft.audience if p.startswith("student:")]
    with runtime.sessions() as db:
        choices = audience_choices(db, school.slug)
        matches = search_students(db, school.slug, search) if search.strip() else []
        chosen = students_by_id(db, school.slug, chosen_students)
    chosen_ids = {s.external_id for s in chosen}
    whole_school = (
        send_refusal(step.account, school.slug, category.name, category.urgency, True, school.trust)
        is None
    )
    return step.page(
        "compose_audience.html",
        "Who is it for?",
        status_code,
        errors=errors,
        school=school,
        category=category_name(category),
        choices=choices,
        year_words=year_words,
        whole_school=whole_school,
        search=search,
        searched=bool(search.strip()),
        matches=[m for m in matches if m.external_id not in chosen_ids],
        chosen=chosen,
        chosen_parts=set(step.draft.audience),
    )


def _details_page(
    step: Step,
    school: SchoolConfig,
    category: CategoryPolicy,
    fields: list[VariableField],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    return step.page(
        "compose_details.html",
        f"{category_name(category)}: the details",
        status_code,
        errors=errors,
        school=school,
        category=category_name(category),
        fields=fields,
        timezone=school.timezone,
    )


# --- checking a draft up to a step ----------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A draft checked up to some step."""

    school: SchoolConfig
    category: CategoryPolicy | None = None
    fields: list[VariableField] | None = None
    details: CheckedDetails | None = None


def _check_school(step: Step) -> Checked | Response:
    runtime = step.console.runtime
    slug = step.draft.school
    if not slug:
        return _school_page(step, [("school", "Choose the school")], 400)
    school = runtime.configuration.schools.get(slug)
    if school is None:
        return _not_found(step)
    if slug not in schools_of(runtime, step.account):
        return _refused(step, "school")
    return Checked(school)


def _check_category(step: Step) -> Checked | Response:
    checked = _check_school(step)
    if isinstance(checked, Response):
        return checked
    runtime = step.console.runtime
    name = step.draft.category
    if not name:
        return _category_page(step, checked.school, [("category", "Choose what it is about")], 400)
    category = runtime.configuration.policy.categories.get(name)
    if category is None or name not in runtime.templates.categories():
        return _not_found(step)
    school = checked.school
    if send_refusal(step.account, school.slug, name, category.urgency, False, school.trust):
        return _refused(step, "category", category)
    return Checked(school, category)


def _fields(
    templates: TemplateLibrary, school: SchoolConfig, category: CategoryPolicy
) -> list[VariableField]:
    languages = sorted(templates.languages(category.name) & set(school.languages))
    return variable_fields(templates, category.name, languages or [school.default_language])


def _check_audience(step: Step) -> Checked | Response:
    checked = _check_category(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None
    school, category = checked.school, checked.category
    problem = audience_problem(step.draft)
    if problem is not None:
        return _audience_page(step, school, category, [(AUDIENCE_FIELD, problem)], 400)
    request = AnnouncementRequest(
        school=school.slug, category=category.name, audience=list(step.draft.audience)
    )
    refused = refusal_of(step.console.runtime, step.account, request)
    if refused is not None:
        return _refused(step, refused, category)
    try:
        fields = _fields(step.console.runtime.templates, school, category)
    except TemplateError:  # a template file missing: the category cannot be sent from here
        return _not_found(step)
    return Checked(school, category, fields)


def _check_details(step: Step, now: datetime) -> Checked | Response:
    checked = _check_audience(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None and checked.fields is not None
    school, category, fields = checked.school, checked.category, checked.fields
    details, errors = checked_details(step.draft, fields, school.tz, now)
    if details is None:
        return _details_page(step, school, category, fields, errors, 400)
    errors = check_templates(
        step.console.runtime.templates, school, category, details.variables, fields
    )
    if errors:
        return _details_page(step, school, category, fields, errors, 400)
    return Checked(school, category, fields, details)


def _request_of(step: Step, checked: Checked, idempotency_key: str | None) -> AnnouncementRequest:
    assert checked.category is not None and checked.details is not None
    return AnnouncementRequest(
        school=checked.school.slug,
        category=checked.category.name,
        audience=list(step.draft.audience),
        variables=checked.details.variables,
        requested_by=step.account.name,
        trigger="console",
        idempotency_key=idempotency_key,
        send_at=checked.details.send_at,
    )


# --- routes ---------------------------------------------------------------------------


@router.get("/compose")
def compose(request: Request, console: Console = Depends(get_console)) -> Response:
    """The first step: the school (skipped for staff of one school)."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    slugs = schools_of(console.runtime, step.account)
    if not slugs:
        return _refused(step, "school")
    if len(slugs) == 1:
        return RedirectResponse(Draft(school=slugs[0]).url("/compose/category"), status_code=303)
    return _school_page(step, [])


@router.get("/compose/category")
def category_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """The category, each described with its channels and whether it waits."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = _check_school(step)
    if isinstance(checked, Response):
        return checked
    return _category_page(step, checked.school, [])


@router.get("/compose/audience")
def audience_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """Who gets it: the whole school, years, classes, groups, students found by name."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = _check_category(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None
    search = clean_text(request.query_params.get("q"), 100)
    return _audience_page(step, checked.school, checked.category, [], search=search)


@router.get("/compose/details")
def details_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """The details the category's templates need, and when to send it."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    checked = _check_audience(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None and checked.fields is not None
    return _details_page(step, checked.school, checked.category, checked.fields, [])


@router.get("/compose/check")
def check_step(request: Request, console: Console = Depends(get_console)) -> Response:
    """Check before sending: the preview of what parents will read, and the send button."""
    step = _step(request, console)
    if isinstance(step, Response):
        return step
    now = now_utc()
    checked = _check_details(step, now)
    if isinstance(checked, Response):
        return checked
    announcement = _request_of(step, checked, None)
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
    checked = _check_details(step, now)
    if isinstance(checked, Response):
        return checked
    key = field_of(form, "idempotency_key").strip()[:64] or None
    announcement = _request_of(step, checked, f"console:{key}" if key else None)
    outcome = send_from_console(console.runtime, account, announcement, now)
    if isinstance(outcome, Refused):
        return _refused(step, outcome.field, checked.category)
    if isinstance(outcome, Invalid):
        assert checked.category is not None and checked.fields is not None
        return _details_page(
            step,
            checked.school,
            checked.category,
            checked.fields,
            [(checked.fields[0].id if checked.fields else AUDIENCE_FIELD, outcome.message)],
            400,
        )
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
        return _not_found(step)
    if school.slug not in schools_of(runtime, step.account):
        return _refused(step, "school")
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
        return _not_found(step)
    return HTMLResponse(
        email.html or "",
        headers={
            "Content-Security-Policy": EMAIL_FRAME_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )
