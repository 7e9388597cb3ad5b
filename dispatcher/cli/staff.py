"""Commands managing the staff console's accounts: ``dispatcher staff create|list`` and
``disable|enable|unlock|reset-password|clear-second-factor --email E`` (the rules and the
audit entries are ``dispatcher.access.staff_admin``'s, the same as the console's).

The password is asked twice at the terminal (not echoed), or read from standard input with
``--password-stdin`` for scripts; it is never printed, and only its Argon2 hash is kept.
Senior and admin accounts enrol their second factor at their first sign-in to the console.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from dispatcher.cli.acting import os_actor
from dispatcher.cli.common import JsonFlag, console, err_console
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

if TYPE_CHECKING:
    from dispatcher.access.staff import StaffError

staff_app = typer.Typer(help="Staff accounts for the web console.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
EmailOption = Annotated[str, typer.Option(help="The account's email (its sign-in name).")]


def _fail_for(exc: StaffError) -> NoReturn:
    """Exit 2 naming the option (``--email``) or ``password`` the error is about."""
    option = {"password": "password", "account": "--email"}.get(exc.field, f"--{exc.field}")
    _fail(f"{option}: {exc.message}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        _fail("--password-stdin: give it to read the password from standard input")
    first = typer.prompt("Password (at least 12 characters)", hide_input=True)
    second = typer.prompt("The same password again", hide_input=True)
    if first != second:
        _fail("password: the two passwords differ")
    return str(first)


@staff_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The person's work email: their sign-in name.")],
    role: Annotated[str, typer.Option(help="office, senior or admin.")],
    school: Annotated[
        str | None, typer.Option(help="School slug: the account acts for this school only.")
    ] = None,
    trust: Annotated[
        str | None,
        typer.Option(help="Trust slug: the account acts for the trust's member schools."),
    ] = None,
    phone: Annotated[
        str | None,
        typer.Option(help="Their mobile number (e.g. 07700 900123), for the product's texts."),
    ] = None,
    password_stdin: PasswordStdin = False,
    json_output: JsonFlag = False,
) -> None:
    """Create a console account. The password is asked twice (or read with
    --password-stdin); it must be at least 12 characters and not a common one.

    With --school it acts for one school, with --trust for the trust's member schools, with
    neither for every school of this deployment. Senior and admin accounts set up their
    authenticator app (TOTP) at their first sign-in."""
    from dispatcher.access.passwords import password_problem
    from dispatcher.access.staff import StaffError, create_staff

    password = _read_password(password_stdin)
    problem = password_problem(password)
    if problem is not None:
        _fail(f"password: {problem}")
    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            info = create_staff(
                session,
                runtime.configuration,
                email,
                role,
                password,
                datetime.now(UTC),
                school=school,
                trust=trust,
                phone=phone,
                actor=os_actor(),
            )
        except StaffError as exc:
            _fail_for(exc)
    if json_output:
        _print_json(info.as_json())
        return
    console.print(
        f"account {info.name} created: {info.email} ({info.role.value}, {info.scope})",
        highlight=False,
    )
    if info.needs_second_factor:
        err_console.print("They set up their authenticator app at their first sign-in.")


@staff_app.command("list")
def list_(json_output: JsonFlag = False) -> None:
    """Every account (never a password or secret): email, role, scope, second factor,
    created, last sign-in, locked."""
    from dispatcher.access.staff import list_staff

    runtime = _runtime()
    with runtime.sessions() as session:
        accounts = list_staff(session)
    if json_output:
        _print_json({"accounts": [a.as_json() for a in accounts]})
        return
    now = datetime.now(UTC)
    table = Table(
        "id", "email", "role", "acts for", "2FA", "created", "last sign-in", "locked", "disabled"
    )
    for a in accounts:
        if a.needs_second_factor:
            second = "set up" if a.second_factor_enrolled else "at first sign-in"
        else:
            second = "-"
        locked = f"until {a.locked_until:%H:%M}" if a.locked_until and a.locked_until > now else "-"
        table.add_row(
            str(a.id),
            a.email,
            a.role.value,
            a.scope,
            second,
            f"{a.created_at:%Y-%m-%d %H:%M}",
            f"{a.last_sign_in_at:%Y-%m-%d %H:%M}" if a.last_sign_in_at else "-",
            locked,
            f"{a.disabled_at:%Y-%m-%d}" if a.disabled_at else "-",
        )
    console.print(table)


def _change(email: str, change_name: str, password: str | None = None) -> None:
    from dispatcher.access.staff import StaffError
    from dispatcher.access.staff_admin import (
        CHANGE_WORDS,
        Change,
        Manager,
        change_staff,
        staff_id_by_email,
    )

    change = Change[change_name]
    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            account_id = staff_id_by_email(session, email)
            info = change_staff(
                session, Manager(actor=os_actor()), account_id, change, datetime.now(UTC), password
            )
        except StaffError as exc:
            _fail_for(exc)
    console.print(f"account {info.name} {CHANGE_WORDS[change]}", highlight=False)


@staff_app.command("disable")
def disable(email: EmailOption) -> None:
    """Turn an account off: it cannot sign in (it is refused like a wrong password) and its
    open console sessions end at their next request. ``enable`` turns it back on."""
    _change(email, "DISABLE")


@staff_app.command("enable")
def enable(email: EmailOption) -> None:
    """Turn a disabled account back on."""
    _change(email, "ENABLE")


@staff_app.command("unlock")
def unlock(email: EmailOption) -> None:
    """End the lockout after failed sign-ins now rather than in 15 minutes."""
    _change(email, "UNLOCK")


@staff_app.command("reset-password")
def reset_password(email: EmailOption, password_stdin: PasswordStdin = False) -> None:
    """Give an account a new password (asked twice, or read with --password-stdin); it also
    ends a lockout. Tell the person the password by another way than email."""
    from dispatcher.access.passwords import password_problem

    password = _read_password(password_stdin)
    problem = password_problem(password)
    if problem is not None:
        _fail(f"password: {problem}")
    _change(email, "RESET_PASSWORD", password)


@staff_app.command("clear-second-factor")
def clear_second_factor(email: EmailOption) -> None:
    """Forget the account's authenticator app (a lost phone): a senior or admin sets up a
    new one at their next sign-in, after their password."""
    _change(email, "CLEAR_SECOND_FACTOR")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""
    app.add_typer(staff_app, name="staff")
