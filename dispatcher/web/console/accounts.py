"""The accounts pages of the console, for admins: the list of the accounts within their
scope, creating one (with an initial password the admin sets: decision 0094), and on each
account's page: a new password, disable / enable, unlock, clear the authenticator app.

The rules (who manages whom, nobody disables themselves) and the audit entries are
``dispatcher.access.staff_admin``'s, the same as ``dispatcher staff ...``'s. Someone not
signed in goes to sign in; an account without the admin role, or an account outside the
admin's scope, gets a 403 page in plain words; an unknown id a 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from dispatcher.access.roles import Role
from dispatcher.access.staff import StaffError, StaffInfo, create_staff, get_staff
from dispatcher.access.staff_admin import (
    Change,
    Manager,
    change_refusal,
    change_staff,
    manage_refusal,
    manageable_staff,
)
from dispatcher.web.console.accounts_view import (
    DONE_WORDS,
    ROLE_CHOICES,
    account_row,
    scope_choices,
)
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.pages import render
from dispatcher.web.console.sessions import ConsoleSession

router = APIRouter(include_in_schema=False)

#: The form fields of the create page, in page order (the error summary follows it).
_CREATE_FIELDS = ("email", "role", "scope", "phone", "password")
#: Changes made with one button on the account's page, by their URL's last part (the
#: route for them is the module's last, after ``/password``'s).
_BUTTONS: dict[str, Change] = {
    "disable": Change.DISABLE,
    "enable": Change.ENABLE,
    "unlock": Change.UNLOCK,
    "clear-second-factor": Change.CLEAR_SECOND_FACTOR,
}


@dataclass(frozen=True)
class _Admin:
    """The signed-in admin of a request, and their session (for the forms' CSRF token)."""

    session: ConsoleSession
    account: StaffInfo


def _refused(admin: _Admin, reason: str) -> Response:
    """A 403 page telling ``admin`` why not, in their words."""
    return render(
        "message.html",
        status_code=403,
        title="You cannot manage this account",
        paragraphs=[reason[:1].upper() + reason[1:] + "."],
        link=("/accounts", "Go back to the accounts"),
        account=admin.account,
        csrf_token=admin.session.csrf_token,
    )


def _admin_of(console: Console, session: ConsoleSession | None) -> _Admin | Response:
    """The signed-in admin, or the response for anyone else: sign in, or a 403 page."""
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    if account.role is not Role.ADMIN:
        return render(
            "message.html",
            status_code=403,
            title="You cannot manage accounts",
            paragraphs=[
                f"Your account has the {account.role.value} role. Accounts are managed by an "
                "administrator: ask your school's administrator to add, change or unlock one."
            ],
            link=("/", "Go to the home page"),
            account=account,
            csrf_token=session.csrf_token,
        )
    return _Admin(session, account)


def _school_trust(console: Console) -> dict[str, str | None]:
    return {slug: school.trust for slug, school in console.runtime.configuration.schools.items()}


def _target(console: Console, admin: _Admin, account_id: str) -> StaffInfo | Response:
    """The account ``account_id`` (the URL's text) if ``admin`` may manage it; a 404 page
    for anything that is not an account's number, a 403 page outside their scope."""
    target = None
    if account_id.isascii() and account_id.isdigit() and len(account_id) <= 18:
        with console.runtime.sessions() as db:
            target = get_staff(db, int(account_id))
    if target is None:
        return render(
            "message.html",
            status_code=404,
            title="Account not found",
            paragraphs=["There is no account with this number. It may never have existed."],
            link=("/accounts", "Go to the accounts"),
            account=admin.account,
            csrf_token=admin.session.csrf_token,
        )
    trusts = _school_trust(console)
    refusal = manage_refusal(admin.account, target, trusts.get(target.school or ""))
    if refusal is not None:
        return _refused(admin, f"you can manage only the accounts of {admin.account.scope}")
    return target


@router.get("/accounts")
def accounts(request: Request, console: Console = Depends(get_console)) -> Response:
    """The accounts the signed-in admin manages, with their role, scope and status."""
    now = now_utc()
    admin = _admin_of(console, console.session_of(request, now))
    if isinstance(admin, Response):
        return admin
    trusts = _school_trust(console)
    with console.runtime.sessions() as db:
        listed = manageable_staff(db, admin.account, trusts.get)
    configuration = console.runtime.configuration
    return render(
        "accounts.html",
        title="Accounts",
        account=admin.account,
        csrf_token=admin.session.csrf_token,
        rows=[account_row(a, configuration, now) for a in listed],
    )


def _create_page(
    console: Console,
    admin: _Admin,
    values: dict[str, str],
    errors: list[tuple[str, str]],
    status_code: int = 200,
) -> Response:
    order = {name: index for index, name in enumerate(_CREATE_FIELDS)}
    return render(
        "accounts_new.html",
        status_code=status_code,
        title="Create an account",
        account=admin.account,
        csrf_token=admin.session.csrf_token,
        errors=sorted(errors, key=lambda e: order.get(e[0], len(order))),
        values=values,
        roles=ROLE_CHOICES,
        scopes=scope_choices(admin.account, console.runtime.configuration),
    )


@router.get("/accounts/new")
def new_account_form(request: Request, console: Console = Depends(get_console)) -> Response:
    """The form that creates an account within the admin's scope."""
    admin = _admin_of(console, console.session_of(request, now_utc()))
    if isinstance(admin, Response):
        return admin
    return _create_page(console, admin, {}, [])


def _create_errors(form: FormData, scopes: dict[str, object]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not field_of(form, "email").strip():
        errors.append(("email", "Enter the person's work email address"))
    if field_of(form, "role") not in {value for value, _, _ in ROLE_CHOICES}:
        errors.append(("role", "Choose a role"))
    if field_of(form, "scope") not in scopes:
        errors.append(("scope", "Choose where the account acts"))
    if not field_of(form, "password"):
        errors.append(("password", "Enter a first password for the person"))
    return errors


_FIELD_WORDS = {
    "email": "Enter an email address like name@school.org",
    "school": "Choose where the account acts: {}",
    "trust": "Choose where the account acts: {}",
    "phone": "Enter a mobile number like 07700 900123, or leave it empty",
    "password": "Enter a stronger first password: {}",
    "role": "Choose a role",
}


@router.post("/accounts/new")
async def new_account(request: Request, console: Console = Depends(get_console)) -> Response:
    """Create the account, then show its page; or the form again naming the fields to fix."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    admin = _admin_of(console, session)
    if isinstance(admin, Response):
        return admin
    values = {name: field_of(form, name) for name in _CREATE_FIELDS if name != "password"}
    choices = {c.value: c for c in scope_choices(admin.account, console.runtime.configuration)}
    errors = _create_errors(form, dict(choices))
    if errors:
        return _create_page(console, admin, values, errors, 400)
    scope = choices[values["scope"]]
    try:
        with console.runtime.sessions() as db:
            created = create_staff(
                db,
                console.runtime.configuration,
                values["email"],
                values["role"],
                field_of(form, "password"),
                now_utc(),
                school=scope.school,
                trust=scope.trust,
                phone=values["phone"],
                actor=admin.account.name,
            )
    except StaffError as exc:
        field = "scope" if exc.field in ("school", "trust") else exc.field
        words = _FIELD_WORDS.get(exc.field, "{}").format(exc.message)
        if exc.field == "email" and "already exists" in exc.message:
            words = "An account with this email address already exists"
        return _create_page(console, admin, values, [(field, words)], 400)
    return RedirectResponse(f"/accounts/{created.id}?done=created", status_code=303)


@router.get("/accounts/{account_id}")
def account_page(
    account_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """One account: its details, and the buttons that change it."""
    now = now_utc()
    admin = _admin_of(console, console.session_of(request, now))
    if isinstance(admin, Response):
        return admin
    target = _target(console, admin, account_id)
    if isinstance(target, Response):
        return target
    done = DONE_WORDS.get(request.query_params.get("done", ""))
    return render(
        "accounts_show.html",
        title=f"Account {target.email}",
        account=admin.account,
        csrf_token=admin.session.csrf_token,
        row=account_row(target, console.runtime.configuration, now),
        done=done,
        is_self=target.id == admin.account.id,
    )


def _change(
    console: Console, admin: _Admin, target: StaffInfo, change: Change, **extra: str
) -> Response:
    refusal = change_refusal(admin.account, target, change)
    if refusal is not None:
        return _refused(admin, refusal)
    trusts = _school_trust(console)
    try:
        with console.runtime.sessions() as db:
            change_staff(
                db, Manager.of(admin.account), target.id, change, now_utc(),
                school_trust=trusts.get, **extra,
            )  # fmt: skip
    except StaffError as exc:
        if exc.field == "password":
            raise
        return _refused(admin, exc.message)  # changed meanwhile by someone else
    return RedirectResponse(f"/accounts/{target.id}?done={change.name.lower()}", status_code=303)


def _password_page(
    admin: _Admin, target: StaffInfo, errors: list[tuple[str, str]], status_code: int = 200
) -> Response:
    return render(
        "accounts_password.html",
        status_code=status_code,
        title=f"New password for {target.email}",
        account=admin.account,
        csrf_token=admin.session.csrf_token,
        errors=errors,
        target=target,
    )


@router.get("/accounts/{account_id}/password")
def password_form(
    account_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The form that gives an account a new password."""
    admin = _admin_of(console, console.session_of(request, now_utc()))
    if isinstance(admin, Response):
        return admin
    target = _target(console, admin, account_id)
    if isinstance(target, Response):
        return target
    return _password_page(admin, target, [])


@router.post("/accounts/{account_id}/password")
async def password(
    account_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Set the new password (it also ends a lockout), or the form again saying why not."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    admin = _admin_of(console, session)
    if isinstance(admin, Response):
        return admin
    target = _target(console, admin, account_id)
    if isinstance(target, Response):
        return target
    new = field_of(form, "password")
    if not new:
        return _password_page(admin, target, [("password", "Enter the new password")], 400)
    try:
        return _change(console, admin, target, Change.RESET_PASSWORD, password=new)
    except StaffError as exc:
        words = f"Enter a stronger password: {exc.message}"
        return _password_page(admin, target, [("password", words)], 400)


@router.post("/accounts/{account_id}/{action}")
async def account_button(
    account_id: str, action: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Disable, enable, unlock or clear the authenticator app of one account."""
    checked = await checked_post(request, console)
    if isinstance(checked, Response):
        return checked
    session, _ = checked
    admin = _admin_of(console, session)
    if isinstance(admin, Response):
        return admin
    change = _BUTTONS.get(action)
    target = _target(console, admin, account_id)
    if isinstance(target, Response):
        return target
    if change is None:
        return render(
            "message.html",
            status_code=404,
            title="Page not found",
            paragraphs=["This page does not exist."],
            link=(f"/accounts/{account_id}", "Go to the account"),
            account=admin.account,
            csrf_token=admin.session.csrf_token,
        )
    return _change(console, admin, target, change)
