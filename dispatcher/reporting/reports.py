"""Reports: what happened to an announcement, and who the office should phone."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dispatcher.channels.selection import OUTBOX, OUTBOX_NOTE
from dispatcher.config.configuration import Configuration
from dispatcher.domain import FINAL_STATES, REACHED_STATES, DeliveryKind, DeliveryState
from dispatcher.planning.phoning import (
    for_the_office,
    may_phone,
    parse_needs,
    phone_advice,
    told_by_phone,
)
from dispatcher.planning.windows import local_time_in_words
from dispatcher.rendering.languages import language_name
from dispatcher.reporting.headline import report_headline
from dispatcher.store.calls import CallEntry, calls_of
from dispatcher.store.contacts import describe_contacts
from dispatcher.store.deliveries import WAITING_DETAIL, as_utc
from dispatcher.store.models import (
    Announcement,
    Contact,
    Delivery,
    DeliveryEvent,
    InboundMessage,
    PlanOutcome,
    School,
    StudentContact,
)


class NotFound(LookupError):
    """No announcement with that id."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


#: How the office reads states: still on its way, accepted, confirmed, or not reaching anyone.
STATE_GROUPS: dict[str, str] = {
    DeliveryState.PENDING.value: "pending",
    DeliveryState.HELD.value: "pending",
    DeliveryState.SENDING.value: "pending",
    DeliveryState.SENT.value: "sent",
    DeliveryState.DELIVERED.value: "delivered",
    DeliveryState.FAILED.value: "failed",
    DeliveryState.UNDELIVERED.value: "failed",
    DeliveryState.BOUNCED.value: "failed",
    DeliveryState.CANCELLED.value: "cancelled",
}
SUMMARY_COLUMNS = ("pending", "sent", "delivered", "failed", "cancelled")
#: States of a delivery the provider took (whatever it reported afterwards).
#: Ids per ``IN`` list (SQLite binds at most 32,766 parameters).
_IN_LIST = 5_000
HANDED_STATES = frozenset(
    {DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.UNDELIVERED, DeliveryState.BOUNCED}
)
NOT_REACHED_COLUMNS = (
    "student_id",
    "student_name",
    "contact_id",
    "contact_name",
    "phone",
    "phone_advice",
    "text_relay_number",
    "reason",
    "family_reached",
    "other_phones",
    "last_call",
)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((as_utc(end) - as_utc(start)).total_seconds(), 3)


def announcement_report(
    session: Session, announcement_id: int, configuration: Configuration | None = None
) -> dict[str, Any]:
    """What happened to an announcement, as a JSON-ready dict.

    - ``counts``: deliveries by channel and raw state; ``summary``: by channel as the office
      reads it (pending = pending/held/sending, sent, delivered, failed =
      failed/undelivered/bounced, cancelled);
    - ``deliveries_by_kind`` (primary, backup, fallback, escalation), ``fallbacks`` and
      ``escalations`` (how many, by channel);
    - times: first and last send and delivery report, and the seconds from the trigger
      (the announcement's creation) to each;
    - ``outbox``: how many messages the outbox recorded, not sent to any family (None when
      none: ``outbox_summary``);
    - ``waiting_for_provider``: by channel, the pending deliveries sent back because the
      provider refused our account (the channel is stopped until fixed), with the
      provider's reason;
    - ``possibly_sent_twice`` and ``possible_duplicates``: deliveries whose request was in
      flight when their worker process died, sent again (the family may have it twice);
    - ``replies``: texts families sent back, matched to this announcement;
    - ``messages_handed_to_providers`` (sent, delivered, undelivered or bounced),
      ``families_not_reached`` (pupils none of whose contacts was reached, and whom the
      office has not told by phone), ``still_to_send``
      (``now``: pending or being sent; ``held`` for the send window, until ``held_until``,
      and ``held_until_local`` in words in the school's time when ``configuration`` knows it)
      and ``headline``: the lines the report starts with (``reporting.headline``);
    - ``not_reached``: contacts no channel reached (routing found none, or every delivery
      failed), each with the phone to try (E.164; empty for a contact who must not be
      phoned, whose number is in ``text_relay_number``), ``phone_advice`` ("do not phone —
      text, email or Relay UK", "phone first" or empty), whether someone else in the family
      was reached or the family was told by phone (``family_reached``, ``told_by_phone``),
      the calls the office logged for the family (``calls``), and the other numbers of the
      student's contacts (``other_numbers`` and ``other_phones``: never a contact barred by
      a ``no_contact`` link or one who must not be phoned). Contacts excluded by
      safeguarding, parental responsibility or an allowed opt-out are only counted
      (``excluded``), never listed.
    """
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"no announcement {announcement_id}")
    school = session.get(School, announcement.school_id)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    summary: dict[str, dict[str, int]] = {}
    for channel, state, n in session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.channel, Delivery.state)
    ):
        counts[channel][state] = n
        per = summary.setdefault(channel, dict.fromkeys(SUMMARY_COLUMNS, 0))
        group = STATE_GROUPS.get(state, "pending")
        per[group] += n
    by_kind: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, channel, n in session.execute(
        select(Delivery.kind, Delivery.channel, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.kind, Delivery.channel)
    ):
        by_kind[kind][channel] = n
    kinds = {kind: sum(per.values()) for kind, per in by_kind.items()}
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
    first_sent, last_sent, first_delivered, last_delivered = session.execute(
        select(
            func.min(Delivery.sent_at),
            func.max(Delivery.sent_at),
            func.min(Delivery.delivered_at),
            func.max(Delivery.delivered_at),
        ).where(Delivery.announcement_id == announcement_id)
    ).one()
    triggered = announcement.created_at
    duplicates = _possible_duplicates(session, announcement_id)
    not_reached = _not_reached(session, announcement_id, _school_tz(configuration, school))
    states = {state: sum(per.get(state, 0) for per in counts.values()) for state in DeliveryState}
    held_until = session.scalar(
        select(func.min(Delivery.not_before)).where(
            Delivery.announcement_id == announcement_id,
            Delivery.state == DeliveryState.HELD.value,
        )
    )
    report: dict[str, Any] = {
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
        "summary": dict(sorted(summary.items())),
        "deliveries_by_kind": kinds,
        "fallbacks": _kind_summary(by_kind, DeliveryKind.FALLBACK),
        "escalations": _kind_summary(by_kind, DeliveryKind.ESCALATION),
        "language_fallbacks": announcement.language_fallbacks,
        "fallen_back_languages": _fallen_back_languages(session, announcement_id),
        "excluded": excluded,
        "first_sent_at": _iso(first_sent),
        "last_sent_at": _iso(last_sent),
        "first_delivered_at": _iso(first_delivered),
        "last_delivered_at": _iso(last_delivered),
        "seconds_to_first_sent": _seconds(triggered, first_sent),
        "seconds_to_last_sent": _seconds(triggered, last_sent),
        "seconds_to_first_delivered": _seconds(triggered, first_delivered),
        "seconds_to_last_delivered": _seconds(triggered, last_delivered),
        "waiting_for_provider": _waiting_for_provider(session, announcement_id),
        "outbox": outbox_summary(session, announcement_id),
        "possibly_sent_twice": len(duplicates),
        "possible_duplicates": duplicates,
        "replies": _replies(session, announcement_id),
        "messages_handed_to_providers": sum(states[s] for s in HANDED_STATES),
        "families_not_reached": families_not_reached(not_reached),
        "still_to_send": {
            "now": states[DeliveryState.PENDING] + states[DeliveryState.SENDING],
            "held": states[DeliveryState.HELD],
            "held_until": _iso(as_utc(held_until)) if held_until else None,
            "held_until_local": _in_school_time(configuration, school, held_until),
        },
        "not_reached": not_reached,
    }
    report["headline"] = report_headline(report)
    return report


def _not_reached(session: Session, announcement_id: int, tz: ZoneInfo) -> list[dict[str, Any]]:
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
    return _with_family(session, announcement_id, unreachable, tz)


def not_reached_contacts(
    session: Session, announcement_id: int, configuration: Configuration | None = None
) -> list[dict[str, Any]]:
    """The report's ``not_reached`` rows alone (see ``announcement_report``), at a cost
    that grows with the contacts not reached, not with the announcement: what the console's
    families-to-phone pages read on every refresh. Raises ``NotFound`` for an unknown id."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(f"no announcement {announcement_id}")
    school = session.get(School, announcement.school_id)
    return _not_reached(session, announcement_id, _school_tz(configuration, school))


def families_not_reached(not_reached: list[dict[str, Any]]) -> int:
    """How many families (pupils, or contacts without one) of ``not_reached`` rows nobody
    reached: no contact of theirs got a message and the office has not told them by phone."""
    return len({p["student_id"] or p["contact_id"] for p in not_reached if not p["family_reached"]})


def _school_tz(configuration: Configuration | None, school: School | None) -> ZoneInfo:
    """The school's time zone when ``configuration`` knows the school; else UTC."""
    config = configuration.schools.get(school.slug) if configuration and school else None
    return config.tz if config is not None else ZoneInfo("UTC")


def _in_school_time(
    configuration: Configuration | None, school: School | None, moment: datetime | None
) -> str | None:
    if moment is None or configuration is None or school is None:
        return None
    config = configuration.schools.get(school.slug)
    return local_time_in_words(as_utc(moment), config.tz) if config is not None else None


def outbox_summary(session: Session, announcement_id: int) -> dict[str, Any] | None:
    """The messages of the announcement that the outbox recorded instead of a provider
    sending them: ``{"messages": 612, "of": 612, "line": "612 of 612 messages written to
    the outbox — not sent to any family"}``; None when there is none."""
    total, recorded = session.execute(
        select(
            func.count(),
            func.sum(case((Delivery.provider == OUTBOX, 1), else_=0)),
        ).where(Delivery.announcement_id == announcement_id)
    ).one()
    if not recorded:
        return None
    return {
        "messages": int(recorded),
        "of": int(total),
        "line": f"{recorded} of {total} messages {OUTBOX_NOTE}",
    }


def _fallen_back_languages(session: Session, announcement_id: int) -> dict[str, Any]:
    """The languages families asked for that the category has no template in, by tag, with
    their English name and how many contacts were sent the school's default instead."""
    asked = func.lower(func.coalesce(Contact.language, ""))
    rows = session.execute(
        select(asked, func.count(func.distinct(Delivery.contact_id)))
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.announcement_id == announcement_id, Delivery.language_fallback)
        .group_by(asked)
        .order_by(asked)
    )
    return {
        (tag or "unknown"): {"name": language_name(tag or "unknown"), "contacts": n}
        for tag, n in rows
    }


def _possible_duplicates(session: Session, announcement_id: int) -> list[dict[str, Any]]:
    """Deliveries whose request was in flight when their worker died, sent again: the
    family may have had the message twice."""
    return [
        {
            "delivery_id": row.id,
            "contact_id": row.contact_id,
            "channel": row.channel,
            "state": row.state,
            "provider_requests": row.provider_requests,
        }
        for row in session.execute(
            select(
                Delivery.id,
                Delivery.contact_id,
                Delivery.channel,
                Delivery.state,
                Delivery.provider_requests,
            )
            .where(Delivery.announcement_id == announcement_id, Delivery.possible_duplicate)
            .order_by(Delivery.id)
        )
    ]


def _waiting_for_provider(session: Session, announcement_id: int) -> dict[str, dict[str, Any]]:
    sent_back = (
        select(DeliveryEvent.delivery_id, func.max(DeliveryEvent.detail).label("detail"))
        .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.state == DeliveryState.PENDING.value,
            DeliveryEvent.to_state == DeliveryState.PENDING.value,
            DeliveryEvent.detail.like(f"{WAITING_DETAIL}:%"),
        )
        .group_by(DeliveryEvent.delivery_id)
        .subquery()
    )
    waiting: dict[str, dict[str, Any]] = {}
    for channel, n, detail in session.execute(
        select(Delivery.channel, func.count(), func.max(sent_back.c.detail))
        .join(sent_back, sent_back.c.delivery_id == Delivery.id)
        .group_by(Delivery.channel)
        .order_by(Delivery.channel)
    ):
        waiting[channel] = {"count": n, "reason": str(detail).removeprefix(f"{WAITING_DETAIL}: ")}
    return waiting


def _kind_summary(by_kind: dict[str, dict[str, int]], kind: DeliveryKind) -> dict[str, Any]:
    per_channel = dict(sorted(by_kind.get(kind.value, {}).items()))
    return {"total": sum(per_channel.values()), "by_channel": per_channel}


def _replies(session: Session, announcement_id: int) -> list[dict[str, Any]]:
    """Texts families sent back about this announcement (not STOP/START keywords)."""
    rows = session.execute(
        select(
            InboundMessage.received_at,
            InboundMessage.from_phone,
            InboundMessage.body,
            InboundMessage.delivery_id,
            Contact.external_id,
            Contact.first_name,
            Contact.last_name,
        )
        .outerjoin(Contact, Contact.id == InboundMessage.contact_id)
        .where(
            InboundMessage.announcement_id == announcement_id,
            InboundMessage.kind == "reply",
        )
        .order_by(InboundMessage.received_at, InboundMessage.id)
    )
    return [
        {
            "received_at": _iso(row.received_at),
            "contact_id": row.external_id or "",
            "contact_name": f"{row.first_name or ''} {row.last_name or ''}".strip(),
            "phone": row.from_phone,
            "delivery_id": row.delivery_id,
            "body": row.body,
        }
        for row in rows
    ]


def _family_key(student_id: int | None, contact_id: int) -> tuple[str, int]:
    """A pupil's family is the pupil; a contact messaged about no pupil is their own."""
    return ("student", student_id) if student_id is not None else ("contact", contact_id)


def _with_family(
    session: Session,
    announcement_id: int,
    entries: list[tuple[int, int | None, str]],
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    """``describe_contacts`` made safe to phone from (``planning.phoning.for_the_office``)
    plus, for each, whether another contact of the student was reached and the other numbers
    the office can try: never a contact barred by a ``no_contact`` link, never one who must
    not be phoned (hearing-impaired), and a sight-impaired one marked "phone first"."""
    described: list[dict[str, Any]] = list(for_the_office(describe_contacts(session, entries)))
    student_ids = {s for _, s, _ in entries if s is not None}
    family: dict[int, list[Any]] = defaultdict(list)
    if student_ids:
        for member in session.execute(
            select(
                StudentContact.student_id,
                StudentContact.contact_id,
                StudentContact.priority,
                Contact.external_id,
                Contact.first_name,
                Contact.last_name,
                Contact.phone_e164,
                Contact.needs,
            )
            .join(Contact, Contact.id == StudentContact.contact_id)
            .where(
                StudentContact.student_id.in_(student_ids),
                StudentContact.no_contact.is_(False),
            )
            .order_by(StudentContact.priority, StudentContact.contact_id)
        ):
            family[member.student_id].append(member)
    # Which of the family members were reached: asked of their own deliveries (the
    # announcement-and-contact key), not of every delivery the announcement reached.
    members = sorted({m.contact_id for family_members in family.values() for m in family_members})
    reached: set[int] = set()
    for start in range(0, len(members), _IN_LIST):
        reached.update(
            session.scalars(
                select(Delivery.contact_id)
                .where(
                    Delivery.announcement_id == announcement_id,
                    Delivery.contact_id.in_(members[start : start + _IN_LIST]),
                    Delivery.state.in_([s.value for s in REACHED_STATES]),
                )
                .distinct()
            )
        )
    calls: dict[tuple[str, int], list[CallEntry]] = defaultdict(list)
    for call in calls_of(session, announcement_id):
        calls[_family_key(call.student_row, call.contact_row)].append(call)
    for row, (contact_id, student_id, _) in zip(described, entries, strict=True):
        others = [m for m in family.get(student_id or -1, []) if m.contact_id != contact_id]
        family_calls = sorted(
            {
                *calls.get(_family_key(student_id, contact_id), []),
                *calls.get(_family_key(None, contact_id), []),
            },
            key=lambda call: (call.at, call.id),
        )
        row["calls"] = [
            {**call.as_json(), "at_local": local_time_in_words(call.at, tz)}
            for call in family_calls
        ]
        row["told_by_phone"] = told_by_phone(call.outcome for call in family_calls)
        row["family_reached"] = row["told_by_phone"] or any(m.contact_id in reached for m in others)
        own = {row["phone"], row["text_relay_number"]}
        numbers: dict[str, dict[str, str]] = {}
        for member in others:
            needs = parse_needs(member.needs)
            phone = member.phone_e164
            if not phone or phone in own or phone in numbers or not may_phone(needs):
                continue
            numbers[phone] = {
                "contact_id": member.external_id,
                "contact_name": f"{member.first_name} {member.last_name}",
                "phone": phone,
                "phone_advice": phone_advice(needs),
            }
        row["other_numbers"] = list(numbers.values())
        row["other_phones"] = ";".join(numbers)
    return described


def _failed_everywhere(session: Session, announcement_id: int) -> list[tuple[int, int | None, str]]:
    """Contacts all of whose deliveries ended without reaching them. Only the contacts with
    a failed delivery (the announcement-and-state index) are looked at, and their own
    deliveries (the announcement-and-contact key), never the whole announcement: the
    console asks on every refresh."""
    failed = [s.value for s in FINAL_STATES - REACHED_STATES]
    with_a_failure = select(Delivery.contact_id).where(
        Delivery.announcement_id == announcement_id, Delivery.state.in_(failed)
    )
    rows: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(
            Delivery.contact_id,
            Delivery.student_id,
            Delivery.channel,
            Delivery.state,
            Delivery.error_code,
        )
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.contact_id.in_(with_a_failure),
        )
        .order_by(Delivery.contact_id)
    ):
        rows[row.contact_id].append(row)
    found: list[tuple[int, int | None, str]] = []
    for contact_id, deliveries in rows.items():
        if any(row.state not in failed for row in deliveries):
            continue  # still to send, or sent: not (yet) failed everywhere
        students = [row.student_id for row in deliveries if row.student_id is not None]
        codes = sorted({f"{r.channel} {r.state} ({r.error_code or '-'})" for r in deliveries})
        reason = "all channels failed: " + ", ".join(codes)
        found.append((contact_id, min(students, default=None), reason))
    return found
