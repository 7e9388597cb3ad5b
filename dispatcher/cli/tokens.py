"""Commands managing API access: ``dispatcher tokens create|list|revoke``.

The token itself is printed once, by ``create``; only its SHA-256 is stored, so ``list``
cannot show it and a lost token is revoked and replaced.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dispatcher.cli.common import JsonFlag, console
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

tokens_app = typer.Typer(help="API tokens for the REST API.", no_args_is_help=True)
_err = Console(stderr=True)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A unique name, e.g. office-brockmoor.")],
    role: Annotated[str, typer.Option(help="office, senior or admin.")],
    school: Annotated[
        str | None, typer.Option(help="School slug: the token acts for this school only.")
    ] = None,
    trust: Annotated[
        str | None,
        typer.Option(help="Trust slug: the token acts for the trust's member schools."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a token and print it: the only time it is shown (only its hash is kept).

    With --school it acts for one school, with --trust for the trust's member schools, with
    neither for every school of this deployment."""
    from dispatcher.access.tokens import TokenError, create_token

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            info, secret = create_token(
                session, runtime.configuration, name, role, school, datetime.now(UTC), trust
            )
        except TokenError as exc:
            _fail(f"--{exc.field}: {str(exc).removeprefix(exc.field + ': ')}")
    if json_output:
        _print_json({"token": secret, **info.as_json()})
        return
    console.print(f"token {info.name!r} ({info.role.value}, {info.scope}):", highlight=False)
    sys.stdout.write(secret + "\n")
    _err.print("Store it now: it is not shown again (only its SHA-256 is kept).")


@tokens_app.command("list")
def list_(json_output: JsonFlag = False) -> None:
    """Every token (never the token itself): name, role, scope, created, used, revoked."""
    from dispatcher.access.tokens import list_tokens

    runtime = _runtime()
    with runtime.sessions() as session:
        tokens = list_tokens(session)
    if json_output:
        _print_json({"tokens": [t.as_json() for t in tokens]})
        return
    table = Table("id", "name", "role", "acts for", "created", "last used", "revoked")
    for t in tokens:
        table.add_row(
            str(t.id),
            t.name,
            t.role.value,
            t.scope,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    json_output: JsonFlag = False,
) -> None:
    """Revoke a token: from now on it gets 401."""
    from dispatcher.access.tokens import TokenError, revoke_token

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            info = revoke_token(session, name, datetime.now(UTC))
        except TokenError as exc:
            _fail(f"NAME: {str(exc).removeprefix(exc.field + ': ')}")
    if json_output:
        _print_json(info.as_json())
        return
    console.print(f"token {info.name!r} revoked", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""
    app.add_typer(tokens_app, name="tokens")
