"""What every console form shares: its fields read as text, and the CSRF check that comes
before anything a POST does (decision 0079)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from dispatcher.web.console.context import Console, now_utc
from dispatcher.web.console.pages import render
from dispatcher.web.console.sessions import ConsoleSession


def field_of(form: FormData, name: str) -> str:
    """The form's field ``name`` as text (empty when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def checked_post(
    request: Request, console: Console
) -> tuple[ConsoleSession, FormData] | Response:
    """The session and form of a console POST; or, unless the form carries the live
    session's CSRF token, a page refusing it (403) that changes nothing."""
    form = await request.form()
    session = console.session_of(request, now_utc())
    if session is not None and session.csrf_matches(field_of(form, "csrf_token") or None):
        return session, form
    return render(
        "message.html",
        status_code=403,
        title="This form has expired",
        paragraphs=[
            "The form was not sent from this page of the service, or your session ended "
            "(after 30 minutes without use).",
            "Nothing was changed. Go back, reload the page and try again.",
        ],
        link=("/", "Go to the start"),
    )
