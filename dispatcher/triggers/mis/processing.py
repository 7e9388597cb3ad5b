"""Applying MIS events. A verified event (``signing``, ``events``) is stored in ``mis_events``
with status ``received`` and acknowledged; the ``process_mis_event`` actor then applies it
(:func:`process_event`) and marks it ``processed`` or ``failed``. Events left ``received``
(the queue lost them) are queued again by the recovery sweep (:func:`replay_received_events`).

Nothing here logs personal data: logs carry event ids, types and school slugs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatcher.domain import Channel, MisEventStatus
from dispatcher.queue.enqueue import enqueue as enqueue_messages
from dispatcher.queue.inflight import mis_marker, missing_markers
from dispatcher.queue.names import MIS_EVENT_ACTOR
from dispatcher.queue.work import QueuedWork, plan_work
from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, Contact, MisEvent, School, Student
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    validate_request,
)
from dispatcher.triggers.mis.events import (
    ContactChanges,
    ContactUpdatedData,
    EventData,
    EventEnvelope,
    PayloadError,
    PaymentData,
    parse_event,
)
from dispatcher.triggers.roster.parse import normalise_phone

log = logging.getLogger("dispatcher.mis")


#: An event younger than this may still be on its way to the queue: the sweep leaves it.
ENQUEUE_SETTLE = timedelta(seconds=5)


def format_pence(pence: int) -> str:
    """``8500`` -> ``£85.00``; ``123456`` -> ``£1,234.56``."""
    return f"£{pence // 100:,}.{pence % 100:02d}"


def format_date(day: date) -> str:
    """``2026-12-04`` -> ``Friday 4 December 2026``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def payment_request(
    school: str, event_id: str, event_type: str, data: PaymentData
) -> AnnouncementRequest:
    """The ``payment_request`` announcement a payment event becomes.

    An overdue payment says so in the item ("Year 6 residential (overdue since Friday 4
    December 2026)") and asks for payment today: the template has no overdue wording.
    """
    due = format_date(data.due_date)
    if event_type == "payment.overdue":
        item, due_text = f"{data.item} (overdue since {due})", "today"
    else:
        item, due_text = data.item, due
    return AnnouncementRequest(
        school=school,
        category="payment_request",
        audience=[f"student:{data.student_id}"],
        variables={
            "item": item,
            "amount": format_pence(data.amount_pence),
            "due_date": due_text,
            "payment_link": str(data.payment_link),
        },
        requested_by=f"mis:{school}",
        trigger="mis",
        idempotency_key=f"mis:{event_id}",
    )


def check_event(runtime: Runtime, school: str, envelope: EventEnvelope, data: EventData) -> None:
    """Checks that need the configuration: a payment's message must render within the
    category's limits. Raises ``PayloadError`` (field ``body.data``)."""
    if isinstance(data, PaymentData):
        try:
            validate_request(runtime, payment_request(school, envelope.id, envelope.type, data))
        except RequestError as exc:
            raise PayloadError([("body.data", str(exc))]) from None


def store_event(
    session: Session,
    school_id: int,
    envelope: EventEnvelope,
    payload: dict[str, Any],
    now: datetime,
) -> int | None:
    """Store a valid event as ``received`` and commit; return its row id, or None when the
    school already has an event with this id (a repeat: nothing stored)."""
    from sqlalchemy.exc import IntegrityError

    if find_event(session, school_id, envelope.id) is not None:
        return None
    row = MisEvent(
        school_id=school_id,
        event_id=envelope.id,
        event_type=envelope.type,
        payload=payload,
        received_at=now,
        status=MisEventStatus.RECEIVED,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same event arriving twice at once
        session.rollback()
        return None
    return row.id


def find_event(session: Session, school_id: int, event_id: str) -> int | None:
    """The row id of the school's event ``event_id``, if stored."""
    return session.scalar(
        select(MisEvent.id).where(MisEvent.school_id == school_id, MisEvent.event_id == event_id)
    )


def enqueue_events(broker: RedisBroker, mis_event_ids: list[int]) -> None:
    """Queue ``process_mis_event`` for each stored event, then mark it in flight (with the
    Redis generation, like plans and deliveries) so the sweep knows it is queued."""
    enqueue_messages(broker, [QueuedWork(MIS_EVENT_ACTOR, i) for i in mis_event_ids])


def replay_received_events(runtime: Runtime, broker: RedisBroker, now: datetime) -> int:
    """Queue again the events still ``received`` whose queue message is gone (Redis flushed
    or restarted, or the web process died between storing and queueing); return how many."""
    with runtime.sessions() as session:
        ids = list(
            session.scalars(
                select(MisEvent.id).where(
                    MisEvent.status == MisEventStatus.RECEIVED,
                    MisEvent.received_at <= now - ENQUEUE_SETTLE,
                )
            )
        )
    keys = {mis_marker(i): i for i in ids}
    lost = sorted(keys[k] for k in missing_markers(broker, keys))
    enqueue_events(broker, lost)
    if lost:
        log.warning("sweep: %d MIS events re-queued", len(lost))
    return len(lost)


class EventFailed(Exception):
    """The event is valid but cannot be applied (e.g. an id the roster does not have). The
    message never holds personal data."""


def process_event(
    runtime: Runtime,
    mis_event_id: int,
    now: datetime,
    enqueue: Callable[[list[QueuedWork]], None],
) -> str:
    """Apply one stored event and mark it ``processed`` (or ``failed``, with the reason).

    Returns the event's new status, or ``"skipped"`` when it was not ``received`` (already
    handled: a repeated queue message changes nothing). The event is claimed, applied and
    marked in one transaction, so it is applied once; a payment's plan is queued after
    that commit.
    """
    with runtime.sessions() as session:
        event = session.get(MisEvent, mis_event_id)
        if event is None or event.status != MisEventStatus.RECEIVED:
            return "skipped"
        school = session.get(School, event.school_id)
        assert school is not None
        event_type, external_event_id, payload = event.event_type, event.event_id, event.payload
        claimed = session.execute(
            update(MisEvent)
            .where(MisEvent.id == mis_event_id, MisEvent.status == MisEventStatus.RECEIVED)
            .values(status=MisEventStatus.PROCESSED, processed_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return "skipped"
        try:
            envelope, data = parse_event(payload)
            announcement_id, send_at, created = _apply(
                session, runtime, school, envelope, data, now
            )
        except (EventFailed, PayloadError) as exc:
            session.rollback()
            reason = str(exc)[:300]
            session.execute(
                update(MisEvent)
                .where(MisEvent.id == mis_event_id, MisEvent.status == MisEventStatus.RECEIVED)
                .values(status=MisEventStatus.FAILED, processed_at=now, error=reason)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            log.warning(
                "MIS event %d (%s, school %s) failed: %s",
                mis_event_id,
                event_type,
                school.slug,
                reason,
            )
            return "failed"
        if announcement_id is not None:
            session.execute(
                update(MisEvent)
                .where(MisEvent.id == mis_event_id)
                .values(announcement_id=announcement_id)
                .execution_options(synchronize_session=False)
            )
        session.commit()
    if announcement_id is not None and created:
        enqueue([plan_work(announcement_id, send_at, now)])
    log.info("MIS event %d (%s) processed: %s", mis_event_id, event_type, external_event_id)
    return "processed"


def _apply(
    session: Session,
    runtime: Runtime,
    school: School,
    envelope: EventEnvelope,
    data: EventData,
    now: datetime,
) -> tuple[int | None, datetime | None, bool]:
    """Apply the event in the caller's transaction: (announcement id, send_at, created)."""
    actor = f"mis:{school.slug}"
    if isinstance(data, PaymentData):
        student = _student(session, school.id, data.student_id)
        if not student.active:
            raise EventFailed("the student has left (inactive in the roster)")
        request = payment_request(school.slug, envelope.id, envelope.type, data)
        try:
            announcement, created = create_announcement(session, runtime, request, now)
        except RequestError as exc:
            raise EventFailed(str(exc)) from None
        return announcement.id, announcement.send_at, created
    if isinstance(data, ContactUpdatedData):
        contact = session.scalar(
            select(Contact).where(
                Contact.school_id == school.id, Contact.external_id == data.contact_id
            )
        )
        if contact is None:
            raise EventFailed("no contact with this MIS id in the roster")
        changed = apply_contact_changes(contact, data.changes)
        _audit(session, now, actor, "roster.contact_updated", school.id, envelope, changed)
        return None, None, False
    student = _student(session, school.id, data.student_id)
    student.active = False
    _audit(session, now, actor, "roster.student_left", school.id, envelope, ["active"])
    return None, None, False


def _student(session: Session, school_id: int, external_id: str) -> Student:
    student = session.scalar(
        select(Student).where(Student.school_id == school_id, Student.external_id == external_id)
    )
    if student is None:
        raise EventFailed("no student with this MIS id in the roster")
    return student


def apply_contact_changes(contact: Contact, changes: ContactChanges) -> list[str]:
    """Set the contact's fields that ``changes`` gives (already validated and normalised);
    return the names of the fields given."""
    given = sorted(changes.model_fields_set)
    for name in given:
        value = getattr(changes, name)
        if name == "mobile":
            if value is None:
                contact.phone_e164, contact.phone_sms_capable = None, False
            else:
                number = normalise_phone(value)
                contact.phone_e164, contact.phone_sms_capable = number.e164, number.sms_capable
        elif name == "email":
            contact.email = value
        elif name == "preferred_channel":
            contact.preferred_channel = Channel(value).value if value else None
        elif name == "language":
            contact.language = value
        elif name == "needs":
            contact.needs = ";".join(value or [])
    return given


def _audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    school_id: int,
    envelope: EventEnvelope,
    fields: list[str],
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action=action,
            school_id=school_id,
            detail={"event_id": envelope.id, "event_type": envelope.type, "fields": fields},
        )
    )
