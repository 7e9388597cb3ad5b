"""Signing in and out of the console: the password, then (senior and admin) the code of an
authenticator app, enrolled at the first sign-in; every form with its CSRF token.

Every refusal reads the same whether the email exists, the password is wrong or the
account is locked; the page says how the lockout works instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from dispatcher.access.second_factor import new_secret, provisioning_uri, qr_code_svg
from dispatcher.access.staff import (
    SignIn,
    check_code,
    check_password,
    enrol_second_factor,
    get_staff,
    record_sign_out,
)
from dispatcher.web.console.context import Console, client_address, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.pages import render
from dispatcher.web.console.sessions import ConsoleSession, Stage

router = APIRouter(include_in_schema=False)

#: What a refused password says, whatever the reason (no hint whether the email exists).
REFUSED_PASSWORD = (
    "Enter the email address and password of your account. After 5 wrong tries in a row "
    "the account is locked for 15 minutes"
)
REFUSED_CODE = (
    "Enter the 6-digit code your authenticator app shows now. After 5 wrong tries in a row "
    "the account is locked for 15 minutes"
)
TOO_MANY = "Too many sign-in attempts from here. Wait 15 minutes, then try again"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _switch(
    console: Console,
    old: ConsoleSession,
    stage: Stage,
    url: str,
    account_id: int,
    enrolment_secret: str | None = None,
) -> Response:
    """Go to ``url`` in a new session at ``stage`` (a new id at every step of a sign-in)."""
    console.sessions.end(old.id)
    session = console.sessions.start(
        now_utc(), stage=stage, account_id=account_id, enrolment_secret=enrolment_secret
    )
    response = _redirect(url)
    console.set_cookie(response, session)
    return response


def _sign_in_page(
    session: ConsoleSession,
    email: str = "",
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        "sign_in.html",
        status_code=status_code,
        title="Sign in",
        csrf_token=session.csrf_token,
        email=email,
        errors=errors or [],
    )


@router.get("/sign-in")
def sign_in_form(request: Request, console: Console = Depends(get_console)) -> Response:
    """The sign-in form (a signed-in visitor goes home)."""
    session = console.session_of(request, now_utc())
    if session is not None and session.stage is Stage.SIGNED_IN:
        return _redirect("/")
    fresh = session is None or session.stage is not Stage.VISITOR
    if session is not None and fresh:
        console.sessions.end(session.id)
    if session is None or fresh:
        session = console.sessions.start(now_utc())
    response = _sign_in_page(session)
    if fresh:
        console.set_cookie(response, session)
    return response


@router.post("/sign-in")
async def sign_in(request: Request, console: Console = Depends(get_console)) -> Response:
    """Check the email and password: home, the code, or the enrolment of the app next."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    email, password = field_of(form, "email").strip(), field_of(form, "password")
    errors = []
    if not email:
        errors.append(("email", "Enter your email address"))
    if not password:
        errors.append(("password", "Enter your password"))
    if errors:
        return _sign_in_page(session, email, errors, status_code=400)
    if not console.throttle.allow(client_address(request), email):
        return _sign_in_page(session, email, [("email", TOO_MANY)], status_code=429)
    with console.runtime.sessions() as db:
        outcome = check_password(db, email, password, now_utc())
    if outcome.account is None or outcome.result is SignIn.REFUSED:
        return _sign_in_page(session, email, [("password", REFUSED_PASSWORD)], status_code=400)
    account_id = outcome.account.id
    if outcome.result is SignIn.CODE_NEEDED:
        return _switch(console, session, Stage.CODE_NEEDED, "/sign-in/code", account_id=account_id)
    if outcome.result is SignIn.ENROLMENT_NEEDED:
        return _switch(
            console,
            session,
            Stage.ENROLMENT_NEEDED,
            "/sign-in/set-up-app",
            account_id=account_id,
            enrolment_secret=new_secret(),
        )
    return _switch(console, session, Stage.SIGNED_IN, "/", account_id=account_id)


def _code_page(
    session: ConsoleSession, errors: list[tuple[str, str]], status_code: int
) -> Response:
    return render(
        "code.html",
        status_code=status_code,
        title="Enter the code from your authenticator app",
        csrf_token=session.csrf_token,
        errors=errors,
    )


@router.get("/sign-in/code")
def code_form(request: Request, console: Console = Depends(get_console)) -> Response:
    """The second step for senior and admin accounts: the authenticator's code."""
    session = console.session_of(request, now_utc())
    if session is None or session.stage is not Stage.CODE_NEEDED:
        return _redirect("/sign-in")
    return _code_page(session, [], 200)


def _code_of(form: FormData) -> str:
    return "".join(field_of(form, "code").split())


@router.post("/sign-in/code")
async def code(request: Request, console: Console = Depends(get_console)) -> Response:
    """Check the code: home when it is right."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    if session.stage is not Stage.CODE_NEEDED or session.account_id is None:
        return _redirect("/sign-in")
    entered = _code_of(form)
    if not entered:
        return _code_page(session, [("code", "Enter the 6-digit code")], 400)
    if not console.throttle.allow(client_address(request), f"staff:{session.account_id}"):
        return _code_page(session, [("code", TOO_MANY)], 429)
    with console.runtime.sessions() as db:
        outcome = check_code(db, session.account_id, entered, now_utc())
    if outcome.result is not SignIn.SIGNED_IN:
        return _code_page(session, [("code", REFUSED_CODE)], 400)
    return _switch(console, session, Stage.SIGNED_IN, "/", account_id=session.account_id)


def _enrol_page(
    console: Console, session: ConsoleSession, errors: list[tuple[str, str]], status_code: int
) -> Response:
    assert session.account_id is not None and session.enrolment_secret is not None
    with console.runtime.sessions() as db:
        account = get_staff(db, session.account_id)
    email = account.email if account else ""
    uri = provisioning_uri(session.enrolment_secret, email)
    secret = session.enrolment_secret
    return render(
        "enrol.html",
        status_code=status_code,
        title="Set up your authenticator app",
        csrf_token=session.csrf_token,
        errors=errors,
        qr_code=Markup(qr_code_svg(uri, "QR code to scan with your authenticator app")),
        uri=uri,
        secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
    )


@router.get("/sign-in/set-up-app")
def enrol_form(request: Request, console: Console = Depends(get_console)) -> Response:
    """The first sign-in of a senior or admin: the QR code (and its text) of their secret."""
    session = console.session_of(request, now_utc())
    if session is None or session.stage is not Stage.ENROLMENT_NEEDED:
        return _redirect("/sign-in")
    return _enrol_page(console, session, [], 200)


@router.post("/sign-in/set-up-app")
async def enrol(request: Request, console: Console = Depends(get_console)) -> Response:
    """Keep the secret once the app's first code is right, and go home."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    if (
        session.stage is not Stage.ENROLMENT_NEEDED
        or session.account_id is None
        or session.enrolment_secret is None
    ):
        return _redirect("/sign-in")
    entered = _code_of(form)
    if not entered:
        return _enrol_page(console, session, [("code", "Enter the 6-digit code")], 400)
    if not console.throttle.allow(client_address(request), f"staff:{session.account_id}"):
        return _enrol_page(console, session, [("code", TOO_MANY)], 429)
    with console.runtime.sessions() as db:
        outcome = enrol_second_factor(
            db, session.account_id, session.enrolment_secret, entered, now_utc()
        )
    if outcome.result is not SignIn.SIGNED_IN:
        return _enrol_page(console, session, [("code", REFUSED_CODE)], 400)
    return _switch(console, session, Stage.SIGNED_IN, "/", account_id=session.account_id)


@router.post("/sign-out")
async def sign_out(request: Request, console: Console = Depends(get_console)) -> Response:
    """End the session (recorded in the audit log)."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    console.sessions.end(session.id)
    if session.account_id is not None:
        with console.runtime.sessions() as db:
            record_sign_out(db, session.account_id, now_utc())
    response = _redirect("/signed-out")
    console.clear_cookie(response)
    return response


@router.get("/signed-out")
def signed_out() -> Response:
    """Where signing out lands."""
    return render(
        "message.html",
        title="You have signed out",
        paragraphs=["Close the browser if others use this device."],
        link=("/sign-in", "Sign in again"),
    )
