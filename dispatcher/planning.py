"""Planning: turning an announcement into delivery rows (and a dry run that writes nothing).

The audience is streamed in batches of contacts; each batch is routed, written in one
transaction together with the announcement's progress cursor, and only then queued. A plan
that dies half way resumes from its cursor without duplicating a delivery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from dispatcher.audience import parse_audience
from dispatcher.broker import DELIVERY_QUEUES
from dispatcher.config import CategoryPolicy, SchoolConfig
from dispatcher.domain import Channel, DeliveryState, MessageFormat, Urgency
from dispatcher.queueing import QueuedWork
from dispatcher.routing import RoutingDecision, route_contact
from dispatcher.runtime import Runtime
from dispatcher.store.audience import AudienceContact, iter_audience_batches
from dispatcher.store.models import (
    Announcement,
    Contact,
    Delivery,
    PlanOutcome,
    School,
    Student,
)
from dispatcher.store.schools import ensure_school
from dispatcher.windows import next_opening

# Rows are written through the tables (Core), not the ORM classes: a plan writes thousands.
_DELIVERIES = cast(Table, Delivery.__table__)
_PLAN_OUTCOMES = cast(Table, PlanOutcome.__table__)

#: Contacts in the first transaction of a plan (the rest go ``plan_batch_size`` at a time).
FIRST_PLAN_BATCH = 100

#: Actors taking one delivery id (retries, held deliveries, fallbacks, the sweep).
DELIVER_ACTOR = {
    Urgency.URGENT: "deliver_urgent",
    Urgency.NORMAL: "deliver_normal",
    Urgency.BULK: "deliver_bulk",
}
#: Actors taking a batch of delivery ids (what planning enqueues).
DELIVER_BATCH_ACTOR = {urgency: f"{name}_batch" for urgency, name in DELIVER_ACTOR.items()}


def deliver_actor_of_queue(queue: str) -> str:
    """The one-id actor for a delivery stored with ``queue`` (``deliver-urgent`` ...)."""
    return DELIVER_ACTOR[Urgency(queue.removeprefix("deliver-"))]


def delivery_work(
    actor_name: str,
    deliveries: Iterable[tuple[int, str]],
    batch_size: int,
    email_batch_size: int,
    delay_ms: int | None = None,
) -> list[QueuedWork]:
    """Queue messages for the (id, channel) pairs, in the order given within each kind:
    texts and pushes first, ``batch_size`` per message (in an urgent category the text is
    the message and the email its back-up), then emails, ``email_batch_size`` per message
    (emails of one message that read the same share one provider request)."""
    first: list[int] = []
    emails: list[int] = []
    for delivery_id, channel in deliveries:
        (emails if channel == Channel.EMAIL.value else first).append(delivery_id)
    return batched_work(actor_name, first, batch_size, delay_ms) + batched_work(
        actor_name, emails, email_batch_size, delay_ms
    )


def batched_work(
    actor_name: str, ids: list[int], size: int, delay_ms: int | None = None
) -> list[QueuedWork]:
    """Messages for a batch actor carrying ``ids`` in order, at most ``size`` per message."""
    return [
        QueuedWork.for_batch(actor_name, ids[start : start + size], delay_ms)
        for start in range(0, len(ids), size)
    ]


def hold_until(category: CategoryPolicy, school: SchoolConfig, now: datetime) -> datetime | None:
    """When a delivery planned ``now`` may go out, or None if it may go at once."""
    if not category.send_window_applies or category.urgency is Urgency.URGENT:
        return None
    opening = next_opening(now, school.send_window, school.tz)
    return opening if opening > now else None


def _routed(
    runtime: Runtime, category: CategoryPolicy, school: SchoolConfig, batch: list[AudienceContact]
) -> list[tuple[AudienceContact, RoutingDecision]]:
    languages = runtime.templates.languages(category.name)
    return [(c, route_contact(category, school, c.profile, languages)) for c in batch]


@dataclass
class PlanSummary:
    """What a plan would do (dry run) or did: counts, languages, cost, who cannot be reached."""

    announcement_id: int | None
    school: str
    category: str
    urgency: str
    audience: list[str]
    recipients: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)
    backups: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    language_fallbacks: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    unreachable: list[dict[str, str]] = field(default_factory=list)
    sms_segments: int = 0
    sms_encodings: dict[str, str] = field(default_factory=dict)
    estimated_cost_gbp: Decimal = Decimal("0")
    hold_until: datetime | None = None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "announcement_id": self.announcement_id,
            "school": self.school,
            "category": self.category,
            "urgency": self.urgency,
            "audience": self.audience,
            "recipients": self.recipients,
            "deliveries": dict(self.deliveries),
            "email_backups": self.backups,
            "languages": dict(self.languages),
            "language_fallbacks": self.language_fallbacks,
            "excluded": dict(self.excluded),
            "unreachable": self.unreachable,
            "sms_segments": self.sms_segments,
            "sms_encodings": self.sms_encodings,
            "estimated_cost_gbp": str(self.estimated_cost_gbp.quantize(Decimal("0.01"))),
            "hold_until": self.hold_until.isoformat() if self.hold_until else None,
        }


def preview_plan(
    runtime: Runtime,
    session: Session,
    school: SchoolConfig,
    category: CategoryPolicy,
    audience: list[str],
    variables: dict[str, str],
    now: datetime,
) -> PlanSummary:
    """Route the whole audience without writing anything: the ``--dry-run`` plan."""
    from dispatcher.announcements import preview_templates

    previews = preview_templates(runtime.templates, school, category, variables)
    standard_sms = [
        p
        for p in previews
        if p.channel is Channel.SMS and p.sms and p.format is MessageFormat.STANDARD
    ]
    sms_segments_by_language = {p.language: p.sms.segments for p in standard_sms if p.sms}
    summary = PlanSummary(None, school.slug, category.name, category.urgency.value, list(audience))
    summary.sms_encodings = {p.language: p.sms.encoding for p in standard_sms if p.sms}
    summary.hold_until = hold_until(category, school, now)
    school_row = ensure_school(session, school)
    selectors = parse_audience(audience)
    unreachable_ids: list[tuple[int, int | None, str]] = []
    for batch in iter_audience_batches(
        session,
        school_row.id,
        selectors,
        after_contact_id=0,
        batch_size=runtime.settings.plan_batch_size,
    ):
        for _, decision in _routed(runtime, category, school, batch):
            if decision.excluded_reason:
                summary.excluded[decision.excluded_reason] += 1
                continue
            if decision.unreachable_reason:
                unreachable_ids.append(
                    (decision.contact_id, decision.student_id, decision.unreachable_reason)
                )
                continue
            summary.recipients += 1
            for planned in decision.deliveries:
                summary.deliveries[planned.channel.value] += 1
                if planned.kind.value == "backup":
                    summary.backups += 1
                summary.languages[planned.language] += 1
                summary.language_fallbacks += int(planned.language_fallback)
                if planned.channel is Channel.SMS:
                    summary.sms_segments += sms_segments_by_language.get(planned.language, 1)
    pricing = runtime.configuration.policy.pricing
    summary.estimated_cost_gbp = (
        pricing.sms_segment_gbp * summary.sms_segments
        + pricing.email_gbp * summary.deliveries.get("email", 0)
        + pricing.push_gbp * summary.deliveries.get("push", 0)
    )
    summary.unreachable = describe_contacts(session, unreachable_ids)
    return summary


def describe_contacts(
    session: Session, entries: list[tuple[int, int | None, str]]
) -> list[dict[str, str]]:
    """Who the office should phone: ids, names and phone numbers, with the reason."""
    if not entries:
        return []
    contact_ids = {c for c, _, _ in entries}
    student_ids = {s for _, s, _ in entries if s is not None}
    contacts = {
        row.id: row
        for row in session.execute(
            select(
                Contact.id,
                Contact.external_id,
                Contact.first_name,
                Contact.last_name,
                Contact.phone_e164,
            ).where(Contact.id.in_(contact_ids))
        )
    }
    students = {
        row.id: row
        for row in session.execute(
            select(Student.id, Student.external_id, Student.first_name, Student.last_name).where(
                Student.id.in_(student_ids)
            )
        )
    }
    described = []
    for contact_id, student_id, reason in entries:
        contact = contacts[contact_id]
        student = students.get(student_id) if student_id is not None else None
        described.append(
            {
                "student_id": student.external_id if student else "",
                "student_name": f"{student.first_name} {student.last_name}" if student else "",
                "contact_id": contact.external_id,
                "contact_name": f"{contact.first_name} {contact.last_name}",
                "phone": contact.phone_e164 or "",
                "reason": reason,
            }
        )
    return described


def plan_announcement(
    runtime: Runtime,
    announcement_id: int,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> int:
    """Write the deliveries of one announcement and queue them; return how many were written.

    Resumable: starts after the announcement's cursor, so a plan interrupted by a crash picks
    up where its last committed batch ended. Does nothing for an announcement already planned
    or cancelled, and stops at the next batch when it is cancelled while being planned.
    """
    with runtime.sessions() as session:
        announcement = session.get(Announcement, announcement_id)
        if announcement is None or announcement.state in ("planned", "cancelled"):
            return 0
        school_row = session.get(School, announcement.school_id)
        assert school_row is not None
        school = runtime.configuration.school(school_row.slug)
        category = runtime.configuration.policy.category(announcement.category)
        selectors = parse_audience(list(announcement.audience))
        cursor = announcement.plan_cursor
        if announcement.state == "received":
            announcement.state = "planning"
            session.commit()

    urgency = category.urgency
    queue = DELIVERY_QUEUES[urgency]
    actor_name = DELIVER_BATCH_ACTOR[urgency]
    batch_size = runtime.settings.delivery_batch_size
    email_batch_size = runtime.settings.email_batch_size
    written = 0
    with runtime.sessions() as read_session:
        batches = iter_audience_batches(
            read_session,
            school_row.id,
            selectors,
            after_contact_id=cursor,
            batch_size=runtime.settings.plan_batch_size,
            # A small first batch: the first messages are queued, and sent, while the rest
            # of the audience is still being planned.
            first_batch_size=min(FIRST_PLAN_BATCH, runtime.settings.plan_batch_size),
        )
        for batch in batches:
            moment = now()
            held_until = hold_until(category, school, moment)
            rows: list[dict[str, object]] = []
            outcomes: list[dict[str, object]] = []
            recipients = fallbacks = 0
            excluded = unreachable = 0
            for contact, decision in _routed(runtime, category, school, batch):
                if not decision.deliveries:
                    excluded += decision.excluded_reason is not None
                    unreachable += decision.unreachable_reason is not None
                    outcomes.append(
                        {
                            "announcement_id": announcement_id,
                            "contact_id": contact.profile.contact_id,
                            "student_id": decision.student_id,
                            "outcome": "excluded" if decision.excluded_reason else "unreachable",
                            "reason": decision.excluded_reason or decision.unreachable_reason,
                        }
                    )
                    continue
                recipients += 1
                for planned in decision.deliveries:
                    fallbacks += int(planned.language_fallback)
                    rows.append(
                        {
                            "announcement_id": announcement_id,
                            "contact_id": contact.profile.contact_id,
                            "student_id": decision.student_id,
                            "channel": planned.channel.value,
                            "kind": planned.kind.value,
                            "queue": queue,
                            "language": planned.language,
                            "language_fallback": planned.language_fallback,
                            "format": planned.format.value,
                            "fallback_chain": ",".join(c.value for c in planned.fallback_chain),
                            "state": (
                                DeliveryState.HELD if held_until else DeliveryState.PENDING
                            ).value,
                            "attempts": 0,
                            "not_before": held_until,
                            "enqueued_at": moment,
                            "created_at": moment,
                            "updated_at": moment,
                        }
                    )
            first_contact = batch[0].profile.contact_id
            last_contact = batch[-1].profile.contact_id
            with runtime.sessions.begin() as session:
                # The progress update comes first and only while the announcement is still
                # being planned: a cancel (which updates the same row) either happened
                # before, and this batch writes nothing, or waits for this batch to commit
                # and then cancels its deliveries.
                still_planning = session.execute(
                    update(Announcement)
                    .where(Announcement.id == announcement_id, Announcement.state == "planning")
                    .values(
                        plan_cursor=last_contact,
                        planned_deliveries=Announcement.planned_deliveries + len(rows),
                        recipients=Announcement.recipients + recipients,
                        excluded_contacts=Announcement.excluded_contacts + excluded,
                        unreachable_contacts=Announcement.unreachable_contacts + unreachable,
                        language_fallbacks=Announcement.language_fallbacks + fallbacks,
                    )
                )
                if still_planning.rowcount != 1:  # type: ignore[attr-defined]
                    return written
                work: list[QueuedWork] = []
                if rows:
                    # A plain executemany (no RETURNING) keeps one short statement that the
                    # drivers batch and cache; the new ids are the batch's contact range.
                    session.connection().execute(insert(_DELIVERIES), rows)
                    written_rows = [
                        (row.id, row.channel)
                        for row in session.execute(
                            select(Delivery.id, Delivery.channel)
                            .where(
                                Delivery.announcement_id == announcement_id,
                                Delivery.contact_id >= first_contact,
                                Delivery.contact_id <= last_contact,
                            )
                            .order_by(Delivery.id)
                        )
                    ]
                    delay_ms = (
                        max(0, int((held_until - moment).total_seconds() * 1000))
                        if held_until
                        else None
                    )
                    work = delivery_work(
                        actor_name, written_rows, batch_size, email_batch_size, delay_ms
                    )
                if outcomes:
                    session.connection().execute(insert(_PLAN_OUTCOMES), outcomes)
            enqueue(work)
            written += len(rows)

    with runtime.sessions.begin() as session:
        session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id, Announcement.state == "planning")
            .values(state="planned", planned_at=now())
        )
    return written
