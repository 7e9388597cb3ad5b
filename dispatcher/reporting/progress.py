"""How far an announcement has got, cheaply enough to ask every two seconds while it sends:
per channel pending / sent / delivered / failed / cancelled, the share of messages that are
through, and the first and last send. Two aggregate queries over the announcement's
deliveries (the open-deliveries index serves them); no per-family work, which the full report
(``reports.announcement_report``) does."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatcher.domain import AnnouncementState
from dispatcher.reporting.reports import STATE_GROUPS, SUMMARY_COLUMNS, NotFound
from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import Announcement, Delivery


def announcement_progress(session: Session, announcement_id: int) -> dict[str, Any]:
    """The announcement's state and, per channel and in all, its messages by the office's
    groups (``pending`` counts held and being sent), ``through`` (no longer pending) and
    ``percent_through``; ``first_sent_at`` and ``last_sent_at`` (UTC, ISO 8601). Raises
    ``NotFound`` for an unknown id."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"no announcement {announcement_id}")
    channels: dict[str, dict[str, int]] = {}
    for channel, state, n in session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.channel, Delivery.state)
    ):
        per = channels.setdefault(channel, dict.fromkeys(SUMMARY_COLUMNS, 0))
        per[STATE_GROUPS.get(state, "pending")] += n
    first_sent, last_sent = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
            Delivery.announcement_id == announcement_id
        )
    ).one()
    overall = {column: sum(per[column] for per in channels.values()) for column in SUMMARY_COLUMNS}
    total = sum(overall.values())
    through = total - overall["pending"]
    still_planning = announcement.state in (AnnouncementState.RECEIVED, AnnouncementState.PLANNING)
    return {
        "announcement_id": announcement.id,
        "state": announcement.state,
        "channels": {
            channel: {**per, "total": sum(per.values())}
            for channel, per in sorted(channels.items())
        },
        "messages": {**overall, "total": total, "through": through},
        # While the audience is still being planned the total is not known yet.
        "percent_through": None if still_planning or not total else round(100 * through / total),
        "first_sent_at": as_utc(first_sent).isoformat() if first_sent else None,
        "last_sent_at": as_utc(last_sent).isoformat() if last_sent else None,
    }
