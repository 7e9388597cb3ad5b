"""Delivering one message: hold it for the send window, claim it, render it, hand it to the
channel adapter, and record what happened. Safe to call any number of times for one delivery:
only the call that claims the row sends."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels.base import OutgoingMessage, PermanentFailure, TransientFailure
from channels.retrying import ConfigurationFailure, DeadTokenFailure
from dispatcher.announcements import school_context
from dispatcher.domain import Channel, DeliveryState, MessageFormat, Urgency
from dispatcher.fallback import start_follow_ups
from dispatcher.planning import DELIVER_ACTOR, hold_until
from dispatcher.queueing import QueuedWork
from dispatcher.rendering import TemplateError
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import as_utc, claim_delivery, move_delivery
from dispatcher.store.models import (
    Announcement,
    Contact,
    Delivery,
    School,
    Student,
    StudentContact,
)

log = logging.getLogger("dispatcher.deliver")

#: After this many attempts a transiently failing delivery is given up as failed.
MAX_ATTEMPTS = 8


class Outcome(StrEnum):
    """What one call to ``deliver`` did."""

    SENT = "sent"
    HELD = "held"
    SKIPPED = "skipped"  # not ours to send: already claimed, sent, cancelled or too early
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryOutcome:
    """The outcome, and for a retry how long the provider asked us to wait."""

    outcome: Outcome
    retry_after: float | None = None


def _address(contact: Contact, channel: Channel) -> str | None:
    if channel is Channel.SMS:
        return contact.phone_e164 if contact.phone_sms_capable else None
    if channel is Channel.EMAIL:
        return contact.email
    return None if contact.push_token_dead else contact.push_token


def _student_names(session: Session, announcement: Announcement, contact_id: int) -> list[str]:
    rows = session.scalars(
        select(Student.first_name)
        .join(StudentContact, StudentContact.student_id == Student.id)
        .where(
            StudentContact.contact_id == contact_id,
            StudentContact.no_contact.is_(False),
            Student.school_id == announcement.school_id,
            Student.active.is_(True),
        )
        .order_by(Student.first_name)
    )
    return list(rows)


def deliver(
    runtime: Runtime,
    delivery_id: int,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> DeliveryOutcome:
    """Send one delivery if it is still due; record the outcome.

    - Outside the school's send window a non-urgent pending delivery is held until it opens.
    - Only the caller whose conditional claim succeeds calls the provider.
    - A permanent failure marks it failed and starts the next channel of its fallback chain.
    - A transient failure puts it back to pending and returns ``RETRY`` (the actor raises so
      that Dramatiq retries with backoff), until ``MAX_ATTEMPTS``.
    """
    config = runtime.configuration
    with runtime.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return DeliveryOutcome(Outcome.SKIPPED)
        announcement = session.get(Announcement, delivery.announcement_id)
        school_row = session.get(School, announcement.school_id) if announcement else None
        if announcement is None or school_row is None:
            return DeliveryOutcome(Outcome.SKIPPED)
        school = config.school(school_row.slug)
        category = config.policy.category(announcement.category)
        moment = now()

        if delivery.state == DeliveryState.PENDING.value:
            opening = hold_until(category, school, moment)
            if opening is not None:
                if move_delivery(
                    session,
                    delivery_id,
                    DeliveryState.HELD,
                    now=moment,
                    detail="outside send window",
                    not_before=opening,
                ):
                    session.commit()
                    delay_ms = int((opening - moment).total_seconds() * 1000)
                    enqueue([QueuedWork(DELIVER_ACTOR[category.urgency], delivery_id, delay_ms)])
                    return DeliveryOutcome(Outcome.HELD)
                return DeliveryOutcome(Outcome.SKIPPED)
        elif (
            delivery.state == DeliveryState.HELD.value
            and delivery.not_before is not None
            and as_utc(delivery.not_before) > moment
        ):
            return DeliveryOutcome(Outcome.SKIPPED)

        if not claim_delivery(session, delivery_id, moment):
            session.rollback()
            return DeliveryOutcome(Outcome.SKIPPED)
        session.commit()

        contact = session.get(Contact, delivery.contact_id)
        assert contact is not None
        channel = Channel(delivery.channel)
        to = _address(contact, channel)
        if to is None:
            return _fail(
                runtime,
                session,
                delivery,
                now(),
                "no_address",
                f"contact has no usable {channel.value} address",
                enqueue,
            )
        context = {
            **announcement.variables,
            "school": school_context(school),
            "contact": {"first_name": contact.first_name},
            "students": _student_names(session, announcement, contact.id),
        }
        try:
            rendered = runtime.templates.render(
                category.name, channel, delivery.language, MessageFormat(delivery.format), context
            )
        except TemplateError as exc:
            return _fail(runtime, session, delivery, now(), "template_error", str(exc), enqueue)
        message = OutgoingMessage(
            delivery_id=delivery.id,
            announcement_id=announcement.id,
            school_slug=school.slug,
            category=category.name,
            channel=channel,
            to=to,
            rendered=rendered,
            sender_id=school.sender_id,
            from_email=school.from_email,
            reply_to=school.reply_to,
        )
        adapter = runtime.adapter_for(school, channel)
        try:
            receipt = adapter.send(message)
        except ConfigurationFailure as exc:
            return _configuration_problem(session, delivery, now(), adapter.name, exc)
        except DeadTokenFailure as exc:
            # The app was uninstalled or the token expired: never route push to it again.
            session.execute(
                update(Contact).where(Contact.id == contact.id).values(push_token_dead=True)
            )
            return _fail(runtime, session, delivery, now(), exc.code, exc.reason, enqueue)
        except PermanentFailure as exc:
            return _fail(runtime, session, delivery, now(), exc.code, exc.reason, enqueue)
        except TransientFailure as exc:
            return _transient(session, delivery, now(), exc)
        move_delivery(
            session,
            delivery_id,
            DeliveryState.SENT,
            now=now(),
            code=None,
            detail=receipt.provider,
            provider=receipt.provider,
            provider_message_id=receipt.provider_message_id,
            sent_at=now(),
            sms_segments=rendered.sms.segments if rendered.sms else None,
        )
        session.commit()
        log.info("delivery %s sent on %s via %s", delivery_id, channel.value, receipt.provider)
        return DeliveryOutcome(Outcome.SENT)


#: How long deliveries wait after a provider refused our credentials before trying again.
CONFIGURATION_RETRY_SECONDS = 300.0


def _configuration_problem(
    session: Session, delivery: Delivery, moment: datetime, provider: str, exc: PermanentFailure
) -> DeliveryOutcome:
    """The provider refused our account (bad credentials, suspended, wrong sender): that is
    not the family's fault, so the delivery goes back to pending instead of failing, and
    an alert is logged once per attempt for the IT lead."""
    move_delivery(
        session,
        delivery.id,
        DeliveryState.PENDING,
        now=moment,
        code=exc.code,
        detail=f"provider configuration: {exc.reason}"[:300],
        only_from=[DeliveryState.SENDING],
    )
    session.commit()
    log.error(
        "ALERT provider %s refused our configuration (%s); delivery %s waits %.0f s",
        provider,
        exc.code,
        delivery.id,
        CONFIGURATION_RETRY_SECONDS,
    )
    return DeliveryOutcome(Outcome.RETRY, CONFIGURATION_RETRY_SECONDS)


def _transient(
    session: Session, delivery: Delivery, moment: datetime, exc: TransientFailure
) -> DeliveryOutcome:
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery.id)) or 0
    if attempts >= MAX_ATTEMPTS:
        move_delivery(
            session,
            delivery.id,
            DeliveryState.FAILED,
            now=moment,
            code=exc.code,
            detail=f"gave up after {attempts} attempts: {exc.reason}"[:300],
            error_code=exc.code,
            error_reason=exc.reason[:300],
        )
        session.commit()
        return DeliveryOutcome(Outcome.FAILED)
    move_delivery(
        session,
        delivery.id,
        DeliveryState.PENDING,
        now=moment,
        code=exc.code,
        detail=exc.reason[:300],
        only_from=[DeliveryState.SENDING],
    )
    session.commit()
    log.warning("delivery %s transient failure %s; will retry", delivery.id, exc.code)
    return DeliveryOutcome(Outcome.RETRY, exc.retry_after)


def _fail(
    runtime: Runtime,
    session: Session,
    delivery: Delivery,
    moment: datetime,
    code: str,
    reason: str,
    enqueue: Callable[[list[QueuedWork]], None],
) -> DeliveryOutcome:
    move_delivery(
        session,
        delivery.id,
        DeliveryState.FAILED,
        now=moment,
        code=code,
        detail=reason[:300],
        error_code=code,
        error_reason=reason[:300],
    )
    follow_ups = start_follow_ups(session, delivery, moment)
    session.commit()
    log.warning("delivery %s failed permanently (%s)", delivery.id, code)
    if follow_ups:
        actor = DELIVER_ACTOR[Urgency(_urgency(session, delivery))]
        enqueue([QueuedWork(actor, follow_up) for follow_up in follow_ups])
    return DeliveryOutcome(Outcome.FAILED)


def _urgency(session: Session, delivery: Delivery) -> str:
    urgency = session.scalar(
        select(Announcement.urgency).where(Announcement.id == delivery.announcement_id)
    )
    return urgency or Urgency.NORMAL.value
