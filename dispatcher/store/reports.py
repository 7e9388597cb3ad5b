"""Reports: what happened to an announcement, and who the office should phone."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dispatcher.domain import FINAL_STATES, REACHED_STATES, DeliveryState
from dispatcher.planning import describe_contacts
from dispatcher.store.models import Announcement, Delivery, PlanOutcome, School


class NotFound(LookupError):
    """No announcement with that id."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def announcement_report(session: Session, announcement_id: int) -> dict[str, Any]:
    """Counts by channel and state, and the contacts no channel reached.

    A contact is "not reached" when routing found no channel for it, or when every delivery
    it had ended in failure. Contacts excluded by safeguarding, parental responsibility or an
    allowed opt-out are only counted, never listed.
    """
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"no announcement {announcement_id}")
    school = session.get(School, announcement.school_id)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, state, n in session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.channel, Delivery.state)
    ):
        counts[channel][state] = n
    kinds = {
        kind: n
        for kind, n in session.execute(
            select(Delivery.kind, func.count())
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.kind)
        )
    }
    excluded = {
        reason: n
        for reason, n in session.execute(
            select(PlanOutcome.reason, func.count())
            .where(
                PlanOutcome.announcement_id == announcement_id, PlanOutcome.outcome == "excluded"
            )
            .group_by(PlanOutcome.reason)
        )
    }
    unreachable = [
        (row.contact_id, row.student_id, row.reason)
        for row in session.execute(
            select(PlanOutcome.contact_id, PlanOutcome.student_id, PlanOutcome.reason)
            .where(
                PlanOutcome.announcement_id == announcement_id,
                PlanOutcome.outcome == "unreachable",
            )
            .order_by(PlanOutcome.contact_id)
        )
    ]
    unreachable.extend(_failed_everywhere(session, announcement_id))
    first_sent, last_sent = session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
            Delivery.announcement_id == announcement_id
        )
    ).one()
    return {
        "announcement_id": announcement.id,
        "school": school.slug if school else None,
        "category": announcement.category,
        "urgency": announcement.urgency,
        "audience": announcement.audience,
        "state": announcement.state,
        "requested_by": announcement.requested_by,
        "created_at": _iso(announcement.created_at),
        "recipients": announcement.recipients,
        "counts": {channel: dict(states) for channel, states in sorted(counts.items())},
        "deliveries_by_kind": kinds,
        "language_fallbacks": announcement.language_fallbacks,
        "excluded": excluded,
        "first_sent_at": _iso(first_sent),
        "last_sent_at": _iso(last_sent),
        "not_reached": describe_contacts(session, unreachable),
    }


def _failed_everywhere(session: Session, announcement_id: int) -> list[tuple[int, int | None, str]]:
    """Contacts all of whose deliveries ended without reaching them."""
    still_good = [s.value for s in DeliveryState if s not in FINAL_STATES or s in REACHED_STATES]
    counts_good = func.sum(case((Delivery.state.in_(still_good), 1), else_=0))
    failed_contacts = {
        row.contact_id: row.student_id
        for row in session.execute(
            select(Delivery.contact_id, func.min(Delivery.student_id).label("student_id"))
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.contact_id)
            .having(counts_good == 0)
            .order_by(Delivery.contact_id)
        )
    }
    if not failed_contacts:
        return []
    codes: dict[int, set[str]] = defaultdict(set)
    for row in session.execute(
        select(Delivery.contact_id, Delivery.channel, Delivery.state, Delivery.error_code).where(
            Delivery.announcement_id == announcement_id,
            Delivery.contact_id.in_(failed_contacts),
        )
    ):
        codes[row.contact_id].add(f"{row.channel} {row.state} ({row.error_code or '-'})")
    return [
        (contact_id, student_id, "all channels failed: " + ", ".join(sorted(codes[contact_id])))
        for contact_id, student_id in failed_contacts.items()
    ]
