"""Planning: turning an announcement into delivery rows.

The audience is streamed in batches of contacts; each batch is routed, written in one
transaction together with the announcement's progress cursor, and only then queued. A plan
that dies half way resumes from its cursor without duplicating a delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select, update

from dispatcher.audience import parse_audience
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import PLANNED_STATES, AnnouncementState, DeliveryState
from dispatcher.planning.routing import RoutingDecision, route_contact
from dispatcher.planning.school_days import school_days_for
from dispatcher.planning.windows import hold_until
from dispatcher.queue.names import DELIVER_BATCH_ACTOR, DELIVERY_QUEUES
from dispatcher.queue.work import QueuedWork, delivery_work
from dispatcher.runtime import Runtime
from dispatcher.store.announcements import finish_sending
from dispatcher.store.audience import AudienceContact, iter_audience_batches
from dispatcher.store.models import (
    Announcement,
    Delivery,
    PlanOutcome,
    School,
)

# Rows are written through the tables (Core), not the ORM classes: a plan writes thousands.
_DELIVERIES = cast(Table, Delivery.__table__)
_PLAN_OUTCOMES = cast(Table, PlanOutcome.__table__)


#: Contacts in the first transaction of a plan (the rest go ``plan_batch_size`` at a time).
FIRST_PLAN_BATCH = 100


def _routed(
    runtime: Runtime, category: CategoryPolicy, school: SchoolConfig, batch: list[AudienceContact]
) -> list[tuple[AudienceContact, RoutingDecision]]:
    languages = runtime.templates.languages(category.name)
    return [(c, route_contact(category, school, c.profile, languages)) for c in batch]


def plan_announcement(
    runtime: Runtime,
    announcement_id: int,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> int:
    """Write the deliveries of one announcement and queue them; return how many were written.

    Resumable: starts after the announcement's cursor, so a plan interrupted by a crash picks
    up where its last committed batch ended. Does nothing for an announcement already planned
    or cancelled, and stops at the next batch when it is cancelled while being planned, or
    when another run of the same plan (a message delivered twice) has moved the cursor on.
    """
    with runtime.sessions() as session:
        announcement = session.get(Announcement, announcement_id)
        if announcement is None or announcement.state in PLANNED_STATES:
            return 0
        school_row = session.get(School, announcement.school_id)
        assert school_row is not None
        school = runtime.configuration.school(school_row.slug)
        category = runtime.configuration.policy.category(announcement.category)
        selectors = parse_audience(list(announcement.audience))
        cursor = announcement.plan_cursor
        if announcement.state == AnnouncementState.RECEIVED:
            announcement.state = AnnouncementState.PLANNING
            session.commit()

    school_days = school_days_for(runtime.configuration, school.slug)
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
            held_until = hold_until(category, school, moment, school_days)
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
                # ... and only from where this planner's last batch ended: were the plan
                # message delivered twice, a second planner reading the same cursor finds it
                # moved on and stops, instead of writing the same deliveries again.
                still_planning = session.execute(
                    update(Announcement)
                    .where(
                        Announcement.id == announcement_id,
                        Announcement.state == AnnouncementState.PLANNING,
                        Announcement.plan_cursor == cursor,
                    )
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
            cursor = last_contact
            enqueue(work)
            written += len(rows)

    with runtime.sessions.begin() as session:
        session.execute(
            update(Announcement)
            .where(
                Announcement.id == announcement_id, Announcement.state == AnnouncementState.PLANNING
            )
            .values(state=AnnouncementState.SENDING, planned_at=now())
        )
    # After the commit, so that either this or the worker committing the last send sees
    # every delivery settled (an announcement whose messages all went while it was being
    # planned, or that has none, is done at once).
    with runtime.sessions.begin() as session:
        finish_sending(session, [announcement_id])
    return written
