"""The console's home page: what is being sent now (each with its live progress bar), the
last announcements of the schools the signed-in person acts for, each with its state in
plain words and a link to its page, and what needs attention (channels stopped,
deliveries held, calendar reminders missed). Signed-out visitors are sent to sign in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from dispatcher.access.roles import Role, may_act_for
from dispatcher.access.staff import StaffInfo
from dispatcher.domain import AnnouncementState
from dispatcher.reporting.headline import plural
from dispatcher.reporting.progress import announcement_progress
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import Announcement
from dispatcher.store.overview import (
    AnnouncementLine,
    held_deliveries_by_school,
    missed_reminders,
    recent_announcements,
)
from dispatcher.store.sign_offs import waiting_for
from dispatcher.tracking.stopped_channels import channel_statuses
from dispatcher.web.console.announcement_words import STATE_WORDS, progress_view
from dispatcher.web.console.context import Console, get_console, now_utc
from dispatcher.web.console.next_reminders import next_reminders
from dispatcher.web.console.pages import render

router = APIRouter(include_in_schema=False)

#: How far back a missed reminder is still an alert.
MISSED_REMINDERS_SHOWN_FOR = timedelta(days=14)


#: The states of an announcement that the home page shows under "Sending now".
SENDING_NOW = frozenset(
    {AnnouncementState.RECEIVED, AnnouncementState.PLANNING, AnnouncementState.SENDING}
)
#: How often the home page's progress bars ask for news, in milliseconds.
POLL_MS = 2000

_CHANNEL_WORDS = {"sms": "Text messages", "email": "Emails", "push": "App notifications"}


@dataclass(frozen=True)
class Alert:
    """One thing on the home page that someone should look at."""

    heading: str
    text: str


def schools_of(runtime: Runtime, account: StaffInfo) -> list[str]:
    """The slugs of the configured schools ``account`` acts for (the API tokens' rule)."""
    return sorted(
        slug
        for slug, school in runtime.configuration.schools.items()
        if may_act_for(account, slug, school.trust)
    )


def category_words(runtime: Runtime, category: str) -> str:
    """The category as the office reads it: its description, or its name in words."""
    policy = runtime.configuration.policy.categories.get(category)
    if policy is not None and policy.description:
        return policy.description
    return category.replace("_", " ").capitalize()


def _alerts(runtime: Runtime, slugs: list[str], now: datetime) -> list[Alert]:
    alerts: list[Alert] = []
    for status in channel_statuses(runtime):
        if status.stop is None:
            continue
        channel = _CHANNEL_WORDS.get(status.channel.value, status.channel.value)
        alerts.append(
            Alert(
                f"{channel} are stopped",
                f"The provider {status.provider} refused our account. "
                f"{plural(status.waiting, 'message')} wait for it. Ask your IT lead to "
                f"check the account and resume it.",
            )
        )
    names = {slug: runtime.configuration.schools[slug].name for slug in slugs}
    with runtime.sessions() as db:
        held = held_deliveries_by_school(db, slugs)
        missed = missed_reminders(db, slugs, now - MISSED_REMINDERS_SHOWN_FOR)
    for slug, count in sorted(held.items()):
        alerts.append(
            Alert(
                f"{plural(count, 'message')} held at {names.get(slug, slug)}",
                "They wait for the send window (school days, in school hours) or for the "
                "provider's credentials to be set, and go by themselves once they can.",
            )
        )
    for reminder in missed:
        school_name = names.get(reminder.school_slug, reminder.school_slug)
        alerts.append(
            Alert(
                f"A calendar reminder was not sent at {school_name}",
                f"{reminder.reminder_key}, due {reminder.due_at:%d %B %Y %H:%M}: "
                f"{reminder.detail or 'no reminder clock was running'}. Send it by hand "
                "if families still need it.",
            )
        )
    return alerts


def _rows(runtime: Runtime, lines: list[AnnouncementLine]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for line in lines:
        words, colour = STATE_WORDS[line.state]
        rows.append(
            {
                "id": line.id,
                "school": line.school_name,
                "category": category_words(runtime, line.category),
                "state": words,
                "colour": colour,
                "created": f"{line.created_at:%d %b %Y %H:%M}",
                "messages": plural(line.planned_deliveries, "message"),
            }
        )
    return rows


def _sending_now(
    runtime: Runtime, lines: list[AnnouncementLine], now: datetime
) -> list[dict[str, object]]:
    """The announcements of ``lines`` still being planned or sent (not those scheduled for
    later), each with its progress as of ``now`` (the page's script keeps it up to date)."""
    sending: list[dict[str, object]] = []
    with runtime.sessions() as db:
        for line in lines:
            if line.state not in SENDING_NOW:
                continue
            school = runtime.configuration.schools.get(line.school_slug)
            stored = db.get(Announcement, line.id)
            if school is None or stored is None:
                continue
            if stored.send_at is not None and as_utc(stored.send_at) > now:
                continue
            sending.append(
                {
                    "id": line.id,
                    "school": line.school_name,
                    "category": category_words(runtime, line.category),
                    "progress": progress_view(announcement_progress(db, line.id), school.tz),
                }
            )
    return sending


@router.get("/")
def home(request: Request, console: Console = Depends(get_console)) -> Response:
    """The home page of a signed-in person; the sign-in page otherwise."""
    now = now_utc()
    session = console.session_of(request, now)
    account = console.account_of(session)
    if session is None or account is None:
        return RedirectResponse("/sign-in", status_code=303)
    runtime = console.runtime
    slugs = schools_of(runtime, account)
    with runtime.sessions() as db:
        lines = recent_announcements(db, slugs)
        # Seniors and admins decide sign-off requests: the ones waiting for them come first.
        to_sign_off = (
            len(waiting_for(db, slugs, account.id)) if account.role is not Role.OFFICE else 0
        )
    return render(
        "home.html",
        title="Home",
        account=account,
        csrf_token=session.csrf_token,
        schools=[runtime.configuration.schools[s].name for s in slugs],
        announcements=_rows(runtime, lines),
        sending=_sending_now(runtime, lines, now),
        poll_ms=POLL_MS,
        alerts=_alerts(runtime, slugs, now),
        reminders=next_reminders(runtime, slugs, now),
        to_sign_off=to_sign_off,
    )
