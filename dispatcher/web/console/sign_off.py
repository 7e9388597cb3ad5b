"""The console's two-person sign-off pages (decisions 0088-0090): ``/sign-off`` lists the
requests waiting for the signed-in senior and their own; ``/sign-off/{id}`` shows one with
the exact preview parents will read, and its buttons: approve (with a fresh code from the
authenticator app) or reject (with a reason) for another senior of the school; withdraw,
and send alone once break-glass opens, for the requester.

``ask_for_sign_off`` is the hook compose calls when ``needs_sign_off`` says so."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from dispatcher.access.roles import may_act_for
from dispatcher.access.staff import StaffInfo, get_staff
from dispatcher.domain import SignOffState
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.work import QueuedWork
from dispatcher.runtime import Runtime
from dispatcher.signoff import decisions
from dispatcher.signoff.decisions import DecisionError, facts_of
from dispatcher.signoff.reauth import confirm_code
from dispatcher.signoff.requests import store_sign_off_request
from dispatcher.signoff.rules import decision_refusal
from dispatcher.store.sign_offs import (
    SignOffRow,
    get_sign_off,
    notifications_of,
    requested_by,
    waiting_for,
)
from dispatcher.triggers.announcements import AnnouncementRequest, RequestError
from dispatcher.web.console.context import Console, client_address, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.home import schools_of
from dispatcher.web.console.pages import render
from dispatcher.web.console.preview_view import build_preview
from dispatcher.web.console.sessions import ConsoleSession
from dispatcher.web.console.sign_off_view import Labels, RequestView, request_view

router = APIRouter(include_in_schema=False)

CODE_MISSING = "Enter the 6-digit code from your authenticator app"
CODE_REFUSED = (
    "Enter the code your authenticator app shows now (a code already used to sign in "
    "cannot approve: wait for the next one)"
)
TOO_MANY = "Too many codes tried. Wait 15 minutes, then try again"
_TITLES = {
    400: "There is a problem",
    403: "You cannot do this",
    404: "Page not found",
    409: "This request has already been decided",
}


def _queue(work: list[QueuedWork]) -> None:
    if work:
        from dispatcher.worker.actors import broker

        enqueue(broker, work)


def ask_for_sign_off(
    runtime: Runtime,
    session: Session,
    request: AnnouncementRequest,
    account: StaffInfo,
    now: datetime,
) -> int:
    """Store ``request`` as waiting for a second senior's sign-off on ``account``'s
    authority (audit entry ``sign_off.requested``), commit, queue a text and an email to
    every other senior and admin of the school, and return the request's id (its page is
    ``/sign-off/<id>``). Raises ``RequestError`` naming the field, as sending would."""
    request_id, work = store_sign_off_request(session, runtime, request, account, now)
    _queue(work)
    return request_id


def _signed_in(request: Request, console: Console) -> tuple[ConsoleSession, StaffInfo] | Response:
    session = console.session_of(request, now_utc())
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    return session, account


def _refusal(status: int, message: str, account: StaffInfo | None, csrf: str | None) -> Response:
    return render(
        "message.html",
        status_code=status,
        title=_TITLES.get(status, "You cannot do this"),
        paragraphs=[message],
        link=("/sign-off", "Go to sign-off requests"),
        account=account,
        csrf_token=csrf,
    )


def _view(runtime: Runtime, db: Session, row: SignOffRow, account: StaffInfo) -> RequestView:
    facts = facts_of(runtime, row)
    people = {}
    for account_id in {row.requested_by_id, row.decided_by_id} - {None}:
        assert account_id is not None
        person = get_staff(db, account_id)
        if person is not None:
            people[account_id] = f"{person.email} ({person.role.value})"
    school = runtime.configuration.schools[row.school_slug]
    policy = runtime.configuration.policy.categories.get(row.category)
    labels = Labels(
        school=school.name,
        category=row.category.replace("_", " ").capitalize(),
        category_description=policy.description if policy is not None else "",
        people=people,
    )
    return request_view(row, facts, account, school.sign_off, now_utc(), labels)


@router.get("/sign-off")
def sign_off_list(request: Request, console: Console = Depends(get_console)) -> Response:
    """The requests waiting for the signed-in person's decision, and their own requests."""
    signed_in = _signed_in(request, console)
    if isinstance(signed_in, Response):
        return signed_in
    session, account = signed_in
    runtime = console.runtime
    with runtime.sessions() as db:
        waiting = (
            waiting_for(db, schools_of(runtime, account), account.id)
            if account.needs_second_factor
            else []
        )
        configured = runtime.configuration.schools
        own = [row for row in requested_by(db, account.id) if row.school_slug in configured]
        views = [_view(runtime, db, row, account) for row in waiting]
        own_views = [_view(runtime, db, row, account) for row in own]
    return render(
        "sign_off_list.html",
        title="Sign-off",
        account=account,
        csrf_token=session.csrf_token,
        waiting=[v for v in views if v.may_decide],
        own=own_views,
    )


def _request_id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _loaded(console: Console, account: StaffInfo, text_id: str, db: Session) -> SignOffRow | None:
    request_id = _request_id(text_id)
    row = None if request_id is None else get_sign_off(db, request_id)
    if row is None:
        return None
    school = console.runtime.configuration.schools.get(row.school_slug)
    if school is None or not may_act_for(account, row.school_slug, school.trust):
        return None
    return row


def _request_page(
    console: Console,
    session: ConsoleSession,
    account: StaffInfo,
    row: SignOffRow,
    errors: list[tuple[str, str]] | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    runtime = console.runtime
    preview = None
    preview_problem = None
    with runtime.sessions() as db:
        view = _view(runtime, db, row, account)
        told = len({n.staff_account_id for n in notifications_of(db, row.id)})
        try:
            preview = build_preview(
                runtime, db, AnnouncementRequest.model_validate(row.request), now_utc()
            )
        except RequestError as exc:
            preview_problem = str(exc)
    return render(
        "sign_off_request.html",
        status_code=status_code,
        title=f"Sign-off request {row.id}",
        account=account,
        csrf_token=session.csrf_token,
        errors=errors or [],
        request=view,
        preview=preview,
        preview_problem=preview_problem,
        reason=reason,
        told=told,
    )


@router.get("/sign-off/{request_id}")
def sign_off_request(
    request_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """One request: what it sends, as parents will read it, and its buttons."""
    signed_in = _signed_in(request, console)
    if isinstance(signed_in, Response):
        return signed_in
    session, account = signed_in
    with console.runtime.sessions() as db:
        row = _loaded(console, account, request_id, db)
    if row is None:
        return _refusal(
            404, "There is no sign-off request at this address.", account, session.csrf_token
        )
    return _request_page(console, session, account, row)


async def _posted(
    request_id: str, request: Request, console: Console
) -> tuple[ConsoleSession, StaffInfo, SignOffRow, dict[str, str]] | Response:
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    account = console.account_of(session)
    if account is None:
        return RedirectResponse("/sign-in", status_code=303)
    with console.runtime.sessions() as db:
        row = _loaded(console, account, request_id, db)
    if row is None:
        return _refusal(
            404, "There is no sign-off request at this address.", account, session.csrf_token
        )
    fields = {name: field_of(form, name) for name in ("code", "reason")}
    return session, account, row, fields


def _done(row: SignOffRow) -> Response:
    return RedirectResponse(f"/sign-off/{row.id}", status_code=303)


@router.post("/sign-off/{request_id}/approve")
async def approve(
    request_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Approve with a fresh authenticator code: the announcement is created and sent."""
    posted = await _posted(request_id, request, console)
    if isinstance(posted, Response):
        return posted
    session, account, row, fields = posted
    runtime = console.runtime
    refusal = decision_refusal(account, facts_of(runtime, row))
    if refusal is not None:
        status = 409 if row.state is not SignOffState.WAITING else 403
        return _refusal(status, refusal, account, session.csrf_token)
    code = "".join(fields["code"].split())
    if not code:
        return _request_page(
            console, session, account, row, [("code", CODE_MISSING)], status_code=400
        )
    if not console.throttle.allow(client_address(request), account.name):
        return _request_page(console, session, account, row, [("code", TOO_MANY)], status_code=429)
    now = now_utc()
    with runtime.sessions() as db:
        if not confirm_code(db, account.id, code, now):
            return _request_page(
                console, session, account, row, [("code", CODE_REFUSED)], status_code=400
            )
        try:
            decided = decisions.approve(db, runtime, row.id, account, now)
        except DecisionError as exc:
            return _refusal(exc.status, exc.message, account, session.csrf_token)
    _queue(decided.work)
    return _done(row)


@router.post("/sign-off/{request_id}/reject")
async def reject(
    request_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Reject with a reason: nothing is sent."""
    posted = await _posted(request_id, request, console)
    if isinstance(posted, Response):
        return posted
    session, account, row, fields = posted
    with console.runtime.sessions() as db:
        try:
            decisions.reject(db, console.runtime, row.id, account, fields["reason"], now_utc())
        except DecisionError as exc:
            if exc.status == 400:
                return _request_page(
                    console,
                    session,
                    account,
                    row,
                    [("reason", exc.message)],
                    reason=fields["reason"],
                    status_code=400,
                )
            return _refusal(exc.status, exc.message, account, session.csrf_token)
    return _done(row)


@router.post("/sign-off/{request_id}/withdraw")
async def withdraw(
    request_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The requester takes the request back: nothing is sent."""
    posted = await _posted(request_id, request, console)
    if isinstance(posted, Response):
        return posted
    session, account, row, _ = posted
    with console.runtime.sessions() as db:
        try:
            decisions.withdraw(db, console.runtime, row.id, account, now_utc())
        except DecisionError as exc:
            return _refusal(exc.status, exc.message, account, session.csrf_token)
    return _done(row)


@router.post("/sign-off/{request_id}/break-glass")
async def break_glass(
    request_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The requester sends alone once the school's break-glass delay has passed."""
    posted = await _posted(request_id, request, console)
    if isinstance(posted, Response):
        return posted
    session, account, row, _ = posted
    with console.runtime.sessions() as db:
        try:
            decided = decisions.break_glass(db, console.runtime, row.id, account, now_utc())
        except DecisionError as exc:
            return _refusal(exc.status, exc.message, account, session.csrf_token)
    _queue(decided.work)
    return _done(row)
