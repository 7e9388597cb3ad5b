"""Who a command acts as: the named person behind a send or an import (``--as NAME``), or,
when none is given, the OS user and host, so the audit log never says just "cli"
(decision 0076)."""

from __future__ import annotations

import getpass
import socket
from typing import Annotated

import typer

from dispatcher.cli.common import fail

#: The longest name the announcement's ``requested_by`` and the audit log's ``actor`` hold.
ACTOR_LIMIT = 100

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="The named person who sends (recorded in the audit log); needed for urgent "
        "categories. Default: your OS user and host, e.g. jo@office-pc.",
    ),
]


def os_actor() -> str:
    """The OS user and host running this command, e.g. ``jo@office-pc``; ``cli`` for a part
    the OS cannot say."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        user = "cli"
    return f"{user}@{socket.gethostname() or 'localhost'}"[:ACTOR_LIMIT]


def actor(as_name: str | None) -> str:
    """The actor to record: ``as_name`` when given (exits 2 naming ``--as`` when it is blank
    or too long), otherwise ``os_actor()``."""
    if as_name is None:
        return os_actor()
    name = " ".join(as_name.split())
    if not name:
        fail("--as: give the name of the person who sends")
    if len(name) > ACTOR_LIMIT:
        fail(f"--as: at most {ACTOR_LIMIT} characters")
    return name


def require_named_sender(as_name: str | None, category: str) -> None:
    """Exit 2 with one plain line unless ``as_name`` names who sends urgent ``category``:
    an emergency message is always traceable to a person, never to a login shared by the
    office."""
    if as_name is None:
        fail(f"--as: {category} is urgent; say who is sending it with --as NAME (nothing was sent)")
