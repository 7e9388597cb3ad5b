"""How far an announcement has got, cheaply enough to ask every two seconds while it sends:
per channel pending / sent / delivered / failed / cancelled, the share of messages that are
through, and the first and last send.

Read from the announcement's ``delivery_tallies`` (decision 0097), never from its
deliveries: an update costs the few rows per channel and state plus those written since the
last fold, whatever the announcement's size; no per-family work, which the full report
(``reports.announcement_report``) does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from dispatcher.domain import AnnouncementState
from dispatcher.reporting.reports import STATE_GROUPS, SUMMARY_COLUMNS, NotFound
from dispatcher.store.models import Announcement
from dispatcher.store.tallies import Tally, fold_tallies, read_tallies

#: Tally rows beyond which reading the progress folds them (into one per channel and state),
#: so that the next reads stay small. About a second of a busy send's changes.
FOLD_AT = 200


def announcement_progress(session: Session, announcement_id: int) -> dict[str, Any]:
    """The announcement's state and, per channel and in all, its messages by the office's
    groups (``pending`` counts held and being sent), ``through`` (no longer pending) and
    ``percent_through``; ``first_sent_at`` and ``last_sent_at`` (UTC, ISO 8601). Raises
    ``NotFound`` for an unknown id.

    Reads the announcement's tallies, not its deliveries; when they have grown past
    ``FOLD_AT`` rows, folds them in a transaction of its own (the caller's is untouched; on
    SQLite, whose writers take turns, call it from a session that has written nothing yet)."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"no announcement {announcement_id}")
    tallies = read_tallies(session, announcement_id)
    if sum(t.rows for t in tallies) > FOLD_AT:
        with Session(session.get_bind().engine) as folding, folding.begin():
            fold_tallies(folding, announcement_id)
    return progress_from_tallies(announcement.id, announcement.state, tallies)


def progress_from_tallies(
    announcement_id: int, state: str, tallies: Sequence[Tally]
) -> dict[str, Any]:
    """The progress (shape as ``announcement_progress``) of an announcement in ``state``
    whose deliveries are counted by ``tallies`` (per channel and state; several rows for the
    same pair add up). A channel none of whose deliveries remain is left out."""
    channels: dict[str, dict[str, int]] = {}
    for tally in tallies:
        per = channels.setdefault(tally.channel, dict.fromkeys(SUMMARY_COLUMNS, 0))
        per[STATE_GROUPS.get(tally.state, "pending")] += tally.n
    channels = {channel: per for channel, per in channels.items() if any(per.values())}
    overall = {column: sum(per[column] for per in channels.values()) for column in SUMMARY_COLUMNS}
    total = sum(overall.values())
    through = total - overall["pending"]
    firsts = [t.first_sent_at for t in tallies if t.first_sent_at is not None]
    lasts = [t.last_sent_at for t in tallies if t.last_sent_at is not None]
    still_planning = state in (AnnouncementState.RECEIVED, AnnouncementState.PLANNING)
    return {
        "announcement_id": announcement_id,
        "state": state,
        "channels": {
            channel: {**per, "total": sum(per.values())}
            for channel, per in sorted(channels.items())
        },
        "messages": {**overall, "total": total, "through": through},
        # While the audience is still being planned the total is not known yet.
        "percent_through": None if still_planning or not total else round(100 * through / total),
        "first_sent_at": min(firsts).isoformat() if firsts else None,
        "last_sent_at": max(lasts).isoformat() if lasts else None,
    }
