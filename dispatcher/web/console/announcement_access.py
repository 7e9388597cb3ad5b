"""Who may look at an announcement's pages: a signed-in account that acts for the
announcement's school (``access.roles.may_act_for``, the API tokens' rule). Anything else
reads as "no such page", so that an account never learns another school's announcements
exist (decision 0093)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from dispatcher.access.roles import may_act_for
from dispatcher.access.staff import StaffInfo
from dispatcher.config.schools import SchoolConfig
from dispatcher.store.models import Announcement, School
from dispatcher.web.console.context import Console, now_utc
from dispatcher.web.console.pages import render
from dispatcher.web.console.sessions import ConsoleSession
from dispatcher.web.schemas import MAX_ID


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking, with their session (for its CSRF token)."""

    session: ConsoleSession
    account: StaffInfo


@dataclass(frozen=True)
class Found:
    """An announcement the viewer may see, with its school."""

    announcement: Announcement
    school_row: School
    school: SchoolConfig


def viewer_of(request: Request, console: Console) -> Viewer | Response:
    """The signed-in person of ``request``; or the redirect to the sign-in page."""
    session = console.session_of(request, now_utc())
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    return Viewer(session, account)


def parse_id(text: str) -> int | None:
    """The announcement id in a page's address, or None when it is not one."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def find_for(console: Console, account: StaffInfo, text_id: str) -> Found | None:
    """The announcement ``text_id`` names when ``account`` acts for its school; None when
    there is none, or it is another school's (the same answer: a 404)."""
    announcement_id = parse_id(text_id)
    if announcement_id is None:
        return None
    runtime = console.runtime
    with runtime.sessions() as db:
        row = db.execute(
            select(Announcement, School)
            .join(School, School.id == Announcement.school_id)
            .where(Announcement.id == announcement_id)
        ).one_or_none()
    if row is None:
        return None
    announcement, school_row = row
    school = runtime.configuration.schools.get(school_row.slug)
    if school is None or not may_act_for(account, school.slug, school.trust):
        return None
    return Found(announcement, school_row, school)


def not_found(viewer: Viewer) -> Response:
    """The page for an announcement that is not there (or not the viewer's to see)."""
    return render(
        "message.html",
        status_code=404,
        title="Page not found",
        account=viewer.account,
        csrf_token=viewer.session.csrf_token,
        paragraphs=[
            "There is no announcement at this address that your account can see.",
            "Check the address, or find the announcement on the home page.",
        ],
        link=("/", "Go to the home page"),
    )
