"""Queries behind the staff console's home page: the last announcements of some schools,
and the deliveries and reminders that need someone's attention there. Queries only: the
page decides what to say about them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatcher.domain import AnnouncementState, DeliveryState
from dispatcher.store.models import Announcement, Delivery, ReminderFire, School


@dataclass(frozen=True)
class AnnouncementLine:
    """One announcement as a list shows it."""

    id: int
    school_slug: str
    school_name: str
    category: str
    state: AnnouncementState
    created_at: datetime
    recipients: int
    planned_deliveries: int


@dataclass(frozen=True)
class MissedReminder:
    """A calendar reminder that was not sent when it was due (no clock ran)."""

    school_slug: str
    reminder_key: str
    due_at: datetime
    detail: str | None


def recent_announcements(
    session: Session, school_slugs: Collection[str], limit: int = 20
) -> list[AnnouncementLine]:
    """The last ``limit`` announcements of ``school_slugs``, newest first."""
    if not school_slugs:
        return []
    rows = session.execute(
        select(Announcement, School.slug, School.name)
        .join(School, School.id == Announcement.school_id)
        .where(School.slug.in_(list(school_slugs)))
        .order_by(Announcement.id.desc())
        .limit(limit)
    ).all()
    return [
        AnnouncementLine(
            id=a.id,
            school_slug=slug,
            school_name=name,
            category=a.category,
            state=AnnouncementState(a.state),
            created_at=a.created_at,
            recipients=a.recipients,
            planned_deliveries=a.planned_deliveries,
        )
        for a, slug, name in rows
    ]


def held_deliveries_by_school(session: Session, school_slugs: Collection[str]) -> dict[str, int]:
    """How many deliveries are held (for the send window, or for a provider's credentials)
    in each of ``school_slugs`` that has any."""
    if not school_slugs:
        return {}
    rows = session.execute(
        select(School.slug, func.count(Delivery.id))
        .join(Announcement, Announcement.id == Delivery.announcement_id)
        .join(School, School.id == Announcement.school_id)
        .where(Delivery.state == DeliveryState.HELD.value, School.slug.in_(list(school_slugs)))
        .group_by(School.slug)
    ).all()
    return {slug: int(n) for slug, n in rows}


def missed_reminders(
    session: Session, school_slugs: Collection[str], since: datetime, limit: int = 20
) -> list[MissedReminder]:
    """Reminders of ``school_slugs`` that were due since ``since`` and recorded as missed,
    newest first."""
    if not school_slugs:
        return []
    rows = session.execute(
        select(ReminderFire, School.slug)
        .join(School, School.id == ReminderFire.school_id)
        .where(
            ReminderFire.outcome == "missed",
            ReminderFire.due_at >= since,
            School.slug.in_(list(school_slugs)),
        )
        .order_by(ReminderFire.due_at.desc())
        .limit(limit)
    ).all()
    return [
        MissedReminder(
            school_slug=slug, reminder_key=fire.reminder_key, due_at=fire.due_at, detail=fire.detail
        )
        for fire, slug in rows
    ]
