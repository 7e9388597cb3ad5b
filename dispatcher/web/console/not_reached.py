"""The families an announcement did not reach, live: the list to phone from (it refreshes
itself and shrinks as families are reached or told by phone), a call log form per family
(``tracking.calls.log_call``, which writes the audit entry), a print view and a CSV
(formula-safe, ``reporting.csv_safe``). Decision 0092."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from dispatcher.access.staff import staff_named
from dispatcher.domain import CallOutcome
from dispatcher.reporting.csv_safe import SafeDictWriter
from dispatcher.reporting.reports import not_reached_contacts
from dispatcher.store.announcement_reads import relationships
from dispatcher.tracking.calls import MAX_NOTE, CallLogError, log_call
from dispatcher.web.console.announcement_access import Found, Viewer, lookup
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.forms import checked_post, field_of
from dispatcher.web.console.home import category_words
from dispatcher.web.console.not_reached_rows import (
    CSV_COLUMNS,
    OUTCOME_WORDS,
    Family,
    csv_lines,
    dom_id,
    families_to_phone,
)
from dispatcher.web.console.pages import render

router = APIRouter(include_in_schema=False)

#: How often the list's script asks for a fresh list, in milliseconds.
REFRESH_MS = 5000
#: Families on the page (with a call form each) at a time: as they are reached or phoned
#: the next come up. The print view and the CSV have them all.
FAMILIES_ON_THE_PAGE = 100


def _callers(console: Console, not_reached: list[dict[str, Any]], viewer: Viewer) -> dict[str, str]:
    """The staff accounts' recorded names (``staff:7``) among the calls, as their email
    addresses (the viewer as "you")."""
    names = {str(call["called_by"]) for row in not_reached for call in row.get("calls") or []}
    who: dict[str, str] = {}
    with console.runtime.sessions() as db:
        for name in names:
            account = staff_named(db, name)
            if name == viewer.account.name:
                who[name] = "you"
            elif account is not None:
                who[name] = account.email
    return who


def _families(console: Console, found: Found, viewer: Viewer) -> list[Family]:
    runtime = console.runtime
    with runtime.sessions() as db:
        not_reached = not_reached_contacts(db, found.announcement.id, runtime.configuration)
        student_ids = {str(r["student_id"]) for r in not_reached if r["student_id"]}
        links = relationships(db, found.school_row.id, student_ids)
    return families_to_phone(not_reached, links, _callers(console, not_reached, viewer))


def _page(
    template: str,
    console: Console,
    viewer: Viewer,
    found: Found,
    families: list[Family],
    status_code: int = 200,
    errors: list[tuple[str, str]] | None = None,
    typed: dict[str, str] | None = None,
    logged: bool = False,
    whole: bool = False,
) -> Response:
    announcement = found.announcement
    return render(
        template,
        status_code=status_code,
        title=f"Families not reached by announcement {announcement.id}",
        account=viewer.account,
        csrf_token=viewer.session.csrf_token,
        errors=errors or [],
        announcement_id=announcement.id,
        category=category_words(console.runtime, announcement.category),
        school=found.school.name,
        families=families if whole else families[:FAMILIES_ON_THE_PAGE],
        families_total=len(families),
        outcomes=[(o.value, words) for o, words in OUTCOME_WORDS.items()],
        typed=typed or {},
        max_note=MAX_NOTE,
        refresh_ms=REFRESH_MS,
        logged=logged,
    )


def _families_page(
    template: str,
    announcement_id: str,
    request: Request,
    console: Console,
    *,
    logged: bool = False,
    whole: bool = False,
) -> Response:
    """``template`` with the announcement's families to phone, for a viewer who may see
    them (the sign-in page or a 404 otherwise)."""
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    families = _families(console, found, viewer)
    return _page(template, console, viewer, found, families, logged=logged, whole=whole)


@router.get("/announcements/{announcement_id}/not-reached")
def not_reached_page(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The families to phone, with a call form each; the page's script refreshes the list."""
    logged = request.query_params.get("logged") == "1"
    return _families_page("not_reached.html", announcement_id, request, console, logged=logged)


@router.get("/announcements/{announcement_id}/not-reached/list")
def not_reached_list(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The list alone (an HTML fragment), for the page's script to refresh the families no
    one is typing about."""
    return _families_page("not_reached_list.html", announcement_id, request, console)


@router.get("/announcements/{announcement_id}/not-reached/print")
def not_reached_print(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The families to phone on a plain page to print (no forms)."""
    return _families_page("not_reached_print.html", announcement_id, request, console, whole=True)


@router.get("/announcements/{announcement_id}/not-reached.csv")
def not_reached_csv(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """The families to phone as CSV (formula-safe), named after the announcement."""
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    families = _families(console, found, viewer)
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    writer.writerows(csv_lines(families))
    name = f"announcement-{found.announcement.id}-not-reached.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _call_errors(form: FormData, fid: str) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    if not field_of(form, "contact"):
        errors.append((f"{fid}-contact", "Select who you phoned"))
    if field_of(form, "outcome") not in {o.value for o in CallOutcome}:
        errors.append((f"{fid}-outcome", "Select what happened when you phoned"))
    if len(field_of(form, "note")) > MAX_NOTE:
        errors.append((f"{fid}-note", f"The note must be {MAX_NOTE} characters or fewer"))
    return errors


@router.post("/announcements/{announcement_id}/not-reached/calls")
async def log_a_call(
    announcement_id: str, request: Request, console: Console = Depends(get_console)
) -> Response:
    """Log a call to a family (CSRF-checked) and go back to the list; a form with a
    mistake comes back with the error beside the field, what was typed kept."""
    checked = await checked_post(request, console)
    if not isinstance(checked, tuple):
        return checked
    _, form = checked
    looked_up = lookup(request, console, announcement_id)
    if not isinstance(looked_up, tuple):
        return looked_up
    viewer, found = looked_up
    key = field_of(form, "family")
    fid = dom_id(key)
    errors = _call_errors(form, fid)
    if not errors:
        try:
            with console.runtime.sessions() as db:
                log_call(
                    db,
                    found.announcement.id,
                    contact=field_of(form, "contact"),
                    student=field_of(form, "student") or None,
                    outcome=field_of(form, "outcome"),
                    note=field_of(form, "note"),
                    called_by=viewer.account.name,
                    now=now_utc(),
                )
        except CallLogError as exc:
            field = {"note": "note", "outcome": "outcome"}.get(exc.field, "contact")
            errors = [(f"{fid}-{field}", _plain(exc))]
    if not errors:
        return RedirectResponse(
            f"/announcements/{found.announcement.id}/not-reached?logged=1#list", status_code=303
        )
    typed = {
        "family": key,
        "contact": field_of(form, "contact"),
        "outcome": field_of(form, "outcome"),
        "note": field_of(form, "note"),
    }
    families = _families(console, found, viewer)
    return _page(
        "not_reached.html", console, viewer, found, families, 400, errors=errors, typed=typed
    )


def _plain(error: CallLogError) -> str:
    """A refused call in the form's words."""
    if error.field == "note":
        if error.message.startswith("must"):
            return f"The note {error.message}"
        return f"The note must be {error.message}"
    if error.field == "outcome":
        return "Select what happened when you phoned"
    return "Select who you phoned from this family's contacts"
