"""Delivering messages: hold them for the send window, claim them, render them, hand them to
the channel adapter, and record what happened. Safe to call any number of times for one
delivery: only the call that claims the row sends.

Two entry points share every step:

- ``deliver_batch`` takes the ids planning put in one queue message (``delivery_batch_size``
  of them): one query loads them, one statement claims them, one commit records a run of
  sends. This is the fast path for the thousands of messages of one announcement.
- ``deliver`` takes one id: retries, fallbacks and the recovery sweep use it, and
  ``deliver_batch`` hands it every delivery that needs Dramatiq's retry with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import starmap
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.channels.base import (
    BatchSending,
    ChannelAdapter,
    ChannelError,
    OutgoingMessage,
    PermanentFailure,
    ProviderReceipt,
    TransientFailure,
    batch_sending,
)
from dispatcher.channels.retry import ConfigurationFailure, DeadTokenFailure
from dispatcher.channels.stops import ChannelStop
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.delivery.fallback import start_follow_ups
from dispatcher.domain import Channel, DeliveryState, MessageFormat, Urgency
from dispatcher.planning.windows import hold_until
from dispatcher.queue.names import DELIVER_ACTOR, DELIVER_BATCH_ACTOR
from dispatcher.queue.work import QueuedWork, delivery_work
from dispatcher.rendering.templates import RenderedMessage, TemplateError, school_context
from dispatcher.retries import DELIVERY_ATTEMPTS, FIRST_RETRY_SECONDS
from dispatcher.runtime import Runtime
from dispatcher.store.deliveries import (
    WAITING_DETAIL,
    SentRecord,
    as_utc,
    claim_deliveries,
    claim_delivery,
    hold_deliveries,
    move_delivery,
    record_sent,
)
from dispatcher.store.models import (
    Announcement,
    Contact,
    Delivery,
    School,
    SmsOptOut,
    Student,
    StudentContact,
)

log = logging.getLogger("dispatcher.deliver")

#: Sends recorded per commit in a batch: a worker killed mid-batch leaves at most this many
#: sent messages still marked ``sending`` (settled by the sweep).
RECORD_EVERY = 25


class Outcome(StrEnum):
    """What one call to ``deliver`` did."""

    SENT = "sent"
    HELD = "held"
    SKIPPED = "skipped"  # not ours to send: already claimed, sent, cancelled or too early
    FAILED = "failed"
    RETRY = "retry"
    #: Its provider refused our account and the channel is stopped: queued again for when
    #: the stop ends (a new message, not a retry, so a long stop never uses up retries).
    WAITING = "waiting"


@dataclass(frozen=True)
class DeliveryOutcome:
    """The outcome, and for a retry or a wait how long to wait."""

    outcome: Outcome
    retry_after: float | None = None


@dataclass(frozen=True)
class AnnouncementFacts:
    """What delivering needs from an announcement; none of it changes once written."""

    id: int
    school_id: int
    school: SchoolConfig
    category: CategoryPolicy
    #: The template context every message of the announcement shares: the request's
    #: variables and the school (each message adds its contact and students).
    shared_context: dict[str, Any]
    #: Messages rendered once for every family, by (channel, language, format): those
    #: whose templates read no family's names (a text that greets no one). None: the
    #: templates do read them, render for each family.
    same_for_all: dict[tuple[str, str, str], RenderedMessage | None] = field(default_factory=dict)


#: The context names that differ from family to family.
FAMILY_NAMES = ("contact", "students")


def announcement_facts(
    runtime: Runtime, session: Session, announcement_id: int
) -> AnnouncementFacts | None:
    """The announcement's facts, read once per process (``runtime.memo``)."""
    key = ("announcement", announcement_id)
    facts: AnnouncementFacts | None = runtime.memo.get(key)
    if facts is not None:
        return facts
    row = session.execute(
        select(Announcement.school_id, Announcement.category, Announcement.variables, School.slug)
        .join(School, School.id == Announcement.school_id)
        .where(Announcement.id == announcement_id)
    ).one_or_none()
    if row is None:
        return None
    config = runtime.configuration
    school = config.school(row.slug)
    facts = AnnouncementFacts(
        id=announcement_id,
        school_id=row.school_id,
        school=school,
        category=config.policy.category(row.category),
        shared_context={**row.variables, "school": school_context(school)},
    )
    runtime.memo[key] = facts
    return facts


@dataclass(frozen=True, slots=True)
class _Due:
    """What sending a delivery needs of its row and its contact's row."""

    id: int
    announcement_id: int
    contact_id: int
    channel: str
    language: str
    format: str
    state: str
    not_before: datetime | None
    first_name: str
    phone_e164: str | None
    phone_sms_capable: bool
    email: str | None
    push_token: str | None
    push_token_dead: bool

    def address(self, channel: Channel) -> str | None:
        """Where ``channel`` reaches the contact now, or None."""
        if channel is Channel.SMS:
            return self.phone_e164 if self.phone_sms_capable else None
        if channel is Channel.EMAIL:
            return self.email
        return None if self.push_token_dead else self.push_token


_LOAD = (
    select(
        Delivery.id,
        Delivery.announcement_id,
        Delivery.contact_id,
        Delivery.channel,
        Delivery.language,
        Delivery.format,
        Delivery.state,
        Delivery.not_before,
        Contact.first_name,
        Contact.phone_e164,
        Contact.phone_sms_capable,
        Contact.email,
        Contact.push_token,
        Contact.push_token_dead,
    )
    .join(Contact, Contact.id == Delivery.contact_id)
    .where(Delivery.id.in_(bindparam("ids", expanding=True)))
    .order_by(Delivery.id)
)

_STUDENT_NAMES = (
    select(StudentContact.contact_id, Student.first_name)
    .join(Student, StudentContact.student_id == Student.id)
    .where(
        StudentContact.contact_id.in_(bindparam("contact_ids", expanding=True)),
        StudentContact.no_contact.is_(False),
        Student.school_id == bindparam("school_id"),
        Student.active.is_(True),
    )
    .order_by(Student.first_name)
)


def _student_names(
    session: Session, school_id: int, contact_ids: Sequence[int]
) -> dict[int, list[str]]:
    """First names of the active students each contact may hear about, sorted."""
    names: dict[int, list[str]] = {contact_id: [] for contact_id in contact_ids}
    rows = session.connection().execute(
        _STUDENT_NAMES, {"contact_ids": list(contact_ids), "school_id": school_id}
    )
    for contact_id, first_name in rows:
        names[contact_id].append(first_name)
    return names


def _load(session: Session, ids: Sequence[int]) -> list[_Due]:
    return list(starmap(_Due, session.connection().execute(_LOAD, {"ids": list(ids)})))


@dataclass
class _Prepared:
    """A claimed delivery ready to send, or the reason it cannot be."""

    delivery: _Due
    message: OutgoingMessage | None = None
    segments: int | None = None
    problem: tuple[str, str] | None = None


def _prepare(
    runtime: Runtime,
    facts: AnnouncementFacts,
    delivery: _Due,
    students: list[str],
) -> _Prepared:
    channel = Channel(delivery.channel)
    to = delivery.address(channel)
    if to is None:
        return _Prepared(
            delivery, problem=("no_address", f"contact has no usable {channel.value} address")
        )
    school = facts.school
    try:
        rendered = _rendered(runtime, facts, channel, delivery, students)
    except TemplateError as exc:
        return _Prepared(delivery, problem=("template_error", str(exc)))
    message = OutgoingMessage(
        delivery_id=delivery.id,
        announcement_id=facts.id,
        school_slug=school.slug,
        category=facts.category.name,
        channel=channel,
        to=to,
        rendered=rendered,
        sender_id=school.sender_id,
        from_email=school.from_email,
        reply_to=school.reply_to,
        personal=(delivery.first_name, *students),
    )
    return _Prepared(delivery, message, rendered.sms.segments if rendered.sms else None)


def _rendered(
    runtime: Runtime,
    facts: AnnouncementFacts,
    channel: Channel,
    delivery: _Due,
    students: list[str],
) -> RenderedMessage:
    key = (channel.value, delivery.language, delivery.format)
    shared = facts.same_for_all.get(key)
    if shared is not None:
        return shared
    context = {
        **facts.shared_context,
        "contact": {"first_name": delivery.first_name},
        "students": students,
    }
    templates = runtime.templates
    category = facts.category.name
    rendered = templates.render(
        category, channel, delivery.language, MessageFormat(delivery.format), context
    )
    if key not in facts.same_for_all:
        personal = templates.reads_any(
            category, channel, delivery.language, FAMILY_NAMES, MessageFormat(delivery.format)
        )
        facts.same_for_all[key] = None if personal else rendered
    return rendered


#: What one batch knows of stopped providers (asked of Redis once each): provider name to
#: its stop, or None when it was not stopped.
KnownStops = dict[str, ChannelStop | None]


def _channel_stop(
    runtime: Runtime, adapter: ChannelAdapter, known: KnownStops
) -> ChannelStop | None:
    """``adapter``'s stop, if its provider refused our account lately (never the outbox's)."""
    if adapter is runtime.outbox:
        return None
    if adapter.name not in known:
        known[adapter.name] = runtime.channel_stops.stopped(adapter.name)
    return known[adapter.name]


def _send(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    prepared: _Prepared,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
    known_stops: KnownStops,
) -> tuple[DeliveryOutcome, ProviderReceipt | None]:
    """Send one claimed delivery. Failures are recorded (and committed) here; a success is
    returned with its receipt for the caller to record. On a stopped channel nothing is
    sent: the delivery waits for the stop to end."""
    delivery = prepared.delivery
    if prepared.problem is not None or prepared.message is None:
        code, reason = prepared.problem or ("internal", "no message")
        return _fail(runtime, session, facts, delivery, now(), code, reason, enqueue), None
    adapter = runtime.adapter_for(facts.school, prepared.message.channel)
    stop = _channel_stop(runtime, adapter, known_stops)
    if stop is not None:
        return _wait_for_channel(session, delivery, now(), stop), None
    try:
        receipt = adapter.send(prepared.message)
    except ChannelError as exc:
        outcome = _failed(
            runtime, session, facts, delivery, exc, adapter.name, now(), enqueue, known_stops
        )
        return outcome, None
    return DeliveryOutcome(Outcome.SENT), receipt


def _failed(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    delivery: _Due,
    error: ChannelError,
    provider: str,
    moment: datetime,
    enqueue: Callable[[list[QueuedWork]], None],
    known_stops: KnownStops,
) -> DeliveryOutcome:
    """Record what a provider's refusal means for ``delivery`` (and commit)."""
    if isinstance(error, ConfigurationFailure):
        stop = known_stops.get(provider) or _stop_channel(runtime, provider, error, moment)
        known_stops[provider] = stop
        return _wait_for_channel(session, delivery, moment, stop)
    if isinstance(error, DeadTokenFailure):
        # The app was uninstalled or the token expired: never route push to it again.
        session.execute(
            update(Contact).where(Contact.id == delivery.contact_id).values(push_token_dead=True)
        )
    if isinstance(error, PermanentFailure):
        if error.code == TWILIO_UNSUBSCRIBED and delivery.channel == Channel.SMS.value:
            _record_unsubscribed(session, delivery.contact_id, moment)
        return _fail(runtime, session, facts, delivery, moment, error.code, error.reason, enqueue)
    if isinstance(error, TransientFailure):
        return _transient(session, delivery, moment, error)
    raise error


def _send_shared(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    prepared: list[_Prepared],
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
    adapter: BatchSending,
    provider: str,
    known_stops: KnownStops,
) -> dict[int, tuple[DeliveryOutcome, ProviderReceipt | None]]:
    """Send the emails of a batch through an adapter that shares one request among
    identical messages (SendGrid personalizations); every delivery keeps its own result.
    On a stopped channel nothing is sent: the deliveries wait for the stop to end."""
    outcomes: dict[int, tuple[DeliveryOutcome, ProviderReceipt | None]] = {}
    stop = known_stops.get(provider)
    if stop is not None:
        for item in prepared:
            outcomes[item.delivery.id] = (
                _wait_for_channel(session, item.delivery, now(), stop),
                None,
            )
        return outcomes
    results = adapter.send_batch([p.message for p in prepared if p.message is not None])
    for item in prepared:
        result = results[item.delivery.id]
        if isinstance(result, ProviderReceipt):
            outcomes[item.delivery.id] = (DeliveryOutcome(Outcome.SENT), result)
        else:
            outcome = _failed(
                runtime,
                session,
                facts,
                item.delivery,
                result,
                provider,
                now(),
                enqueue,
                known_stops,
            )
            outcomes[item.delivery.id] = (outcome, None)
    return outcomes


def _sent_record(prepared: _Prepared, receipt: ProviderReceipt, moment: datetime) -> SentRecord:
    return SentRecord(
        delivery_id=prepared.delivery.id,
        at=moment,
        provider=receipt.provider,
        provider_message_id=receipt.provider_message_id,
        sms_segments=prepared.segments,
    )


def deliver(
    runtime: Runtime,
    delivery_id: int,
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> DeliveryOutcome:
    """Send one delivery if it is still due; record the outcome.

    - Outside the school's send window a non-urgent pending delivery is held until it opens.
    - Only the caller whose conditional claim succeeds calls the provider.
    - A permanent failure marks it failed and starts its follow-ups (next channel, or the
      next contact).
    - A transient failure puts it back to pending and returns ``RETRY`` (the actor raises so
      that Dramatiq retries with backoff), until ``dispatcher.retries.DELIVERY_ATTEMPTS``.
    """
    with runtime.sessions() as session:
        loaded = _load(session, [delivery_id])
        if not loaded:
            return DeliveryOutcome(Outcome.SKIPPED)
        delivery = loaded[0]
        facts = announcement_facts(runtime, session, delivery.announcement_id)
        if facts is None:
            return DeliveryOutcome(Outcome.SKIPPED)
        moment = now()

        if delivery.state == DeliveryState.PENDING.value:
            opening = hold_until(facts.category, facts.school, moment)
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
                    actor = DELIVER_ACTOR[facts.category.urgency]
                    enqueue([QueuedWork(actor, delivery_id, delay_ms)])
                    return DeliveryOutcome(Outcome.HELD)
                return DeliveryOutcome(Outcome.SKIPPED)

        if not claim_delivery(
            session, delivery_id, moment, DeliveryState(delivery.state), delivery.not_before
        ):
            session.rollback()
            return DeliveryOutcome(Outcome.SKIPPED)
        names = _student_names(session, facts.school_id, [delivery.contact_id])
        session.commit()  # the claim; no connection is held while the provider is called
        prepared = _prepare(runtime, facts, delivery, names[delivery.contact_id])
        outcome, receipt = _send(runtime, session, facts, prepared, now, enqueue, {})
        if outcome.outcome is Outcome.WAITING:
            delay_ms = int((outcome.retry_after or MIN_STOP_WAIT_SECONDS) * 1000)
            enqueue([QueuedWork(DELIVER_ACTOR[facts.category.urgency], delivery_id, delay_ms)])
        if receipt is not None:
            record_sent(session, [_sent_record(prepared, receipt, now())])
            session.commit()
            log.info(
                "delivery %s sent on %s via %s", delivery_id, delivery.channel, receipt.provider
            )
        return outcome


@dataclass
class BatchOutcome:
    """What ``deliver_batch`` did with each id of its message."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    #: Ids handed on to another queued message (held, or retried by the one-id actor):
    #: their in-flight markers belong to that message now.
    handed_on: set[int] = field(default_factory=set)


def deliver_batch(
    runtime: Runtime,
    delivery_ids: Sequence[int],
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
) -> BatchOutcome:
    """Send every delivery of ``delivery_ids`` that is still due, as ``deliver`` would one by
    one: held outside the send window, claimed before sending (so no id is sent twice),
    failures recorded with their follow-ups. A delivery the provider asks to retry is handed
    to the one-id actor (Dramatiq's retries with backoff)."""
    result = BatchOutcome()
    with runtime.sessions() as session:
        loaded = _load(session, delivery_ids)
        by_announcement: dict[int, list[_Due]] = {}
        for delivery in loaded:
            by_announcement.setdefault(delivery.announcement_id, []).append(delivery)
        for delivery_id in delivery_ids:
            result.outcomes[delivery_id] = Outcome.SKIPPED
        for announcement_id, rows in by_announcement.items():
            facts = announcement_facts(runtime, session, announcement_id)
            if facts is not None:
                _deliver_announcement_rows(runtime, session, facts, rows, now, enqueue, result)
    return result


def _deliver_announcement_rows(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    rows: list[_Due],
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
    result: BatchOutcome,
) -> None:
    moment = now()
    urgency = facts.category.urgency
    opening = hold_until(facts.category, facts.school, moment)
    pending = [d.id for d in rows if d.state == DeliveryState.PENDING.value]
    due_held = [
        d.id
        for d in rows
        if d.state == DeliveryState.HELD.value
        and d.not_before is not None
        and as_utc(d.not_before) <= moment
    ]
    if opening is not None and pending:
        held = hold_deliveries(session, pending, opening, moment)
        session.commit()
        if held:
            delay_ms = int((opening - moment).total_seconds() * 1000)
            channel_of = {d.id: d.channel for d in rows}
            enqueue(
                delivery_work(
                    DELIVER_BATCH_ACTOR[urgency],
                    [(i, channel_of[i]) for i in held],
                    runtime.settings.delivery_batch_size,
                    runtime.settings.email_batch_size,
                    delay_ms,
                )
            )
            for delivery_id in held:
                result.outcomes[delivery_id] = Outcome.HELD
            result.handed_on.update(held)
        pending = []

    claimed = set(claim_deliveries(session, pending, due_held, moment))
    if not claimed:
        session.commit()
        return
    due = [d for d in rows if d.id in claimed]  # in id order, as loaded
    names = _student_names(session, facts.school_id, sorted({d.contact_id for d in due}))
    # The claim is committed with the names read: no connection is held while the providers
    # are called (an adapter may need one of its own, e.g. the outbox).
    session.commit()
    prepared = [_prepare(runtime, facts, d, names[d.contact_id]) for d in due]
    retry = _send_and_record(runtime, session, facts, prepared, now, enqueue, result)
    if retry:
        enqueue(retry)
        result.handed_on.update(work.object_id for work in retry)
    log.info(
        "announcement %s: batch of %d sent %d",
        facts.id,
        len(rows),
        sum(1 for o in result.outcomes.values() if o is Outcome.SENT),
    )


def _send_and_record(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    prepared: list[_Prepared],
    now: Callable[[], datetime],
    enqueue: Callable[[list[QueuedWork]], None],
    result: BatchOutcome,
) -> list[QueuedWork]:
    """Send claimed deliveries, texts and pushes first (in an urgent category they are the
    message, the emails its back-up), emails sharing requests where the adapter can; record
    the sends ``RECORD_EVERY`` per commit and each outcome in ``result``. Returns the retries
    to hand to the one-id actor."""
    sent: list[SentRecord] = []
    retry: list[QueuedWork] = []
    actor = DELIVER_ACTOR[facts.category.urgency]
    known_stops: KnownStops = {}

    def settle(item: _Prepared, outcome: DeliveryOutcome, receipt: ProviderReceipt | None) -> None:
        result.outcomes[item.delivery.id] = outcome.outcome
        if receipt is not None:
            sent.append(_sent_record(item, receipt, now()))
            if len(sent) >= RECORD_EVERY:
                record_sent(session, sent)
                session.commit()
                sent.clear()
        elif outcome.outcome in (Outcome.RETRY, Outcome.WAITING):
            delay = outcome.retry_after or FIRST_RETRY_SECONDS
            retry.append(QueuedWork(actor, item.delivery.id, int(delay * 1000)))

    emails = [p for p in prepared if p.message is not None and p.message.channel is Channel.EMAIL]
    email_ids = {item.delivery.id for item in emails}
    for item in prepared:
        if item.delivery.id not in email_ids:
            settle(item, *_send(runtime, session, facts, item, now, enqueue, known_stops))
    email_adapter = runtime.adapter_for(facts.school, Channel.EMAIL) if emails else None
    batcher = batch_sending(email_adapter)
    if len(emails) > 1 and email_adapter is not None and batcher is not None:
        _channel_stop(runtime, email_adapter, known_stops)
        shared = _send_shared(
            runtime,
            session,
            facts,
            emails,
            now,
            enqueue,
            batcher,
            email_adapter.name,
            known_stops,
        )
        for item in emails:
            settle(item, *shared[item.delivery.id])
    else:
        for item in emails:
            settle(item, *_send(runtime, session, facts, item, now, enqueue, known_stops))
    if sent:
        record_sent(session, sent)
        session.commit()
    return retry


#: The shortest wait of a delivery on a stopped channel (a stop about to run out).
MIN_STOP_WAIT_SECONDS = 5.0


def _stop_channel(
    runtime: Runtime, provider: str, error: ConfigurationFailure, moment: datetime
) -> ChannelStop:
    """Stop ``provider`` for every worker after it refused our account, raising the alert
    once per stop (whichever worker saw the refusal first)."""
    stops = runtime.channel_stops
    if stops.stop(provider, error.code, error.reason, moment):
        log.error(
            "ALERT provider %s refused our account (%s: %s); its channel is stopped for "
            "%.0f s and its deliveries wait: fix the credentials or account settings, then "
            "run `dispatcher channels resume %s`",
            provider,
            error.code,
            error.reason,
            stops.seconds,
            provider,
        )
    return stops.stopped(provider) or ChannelStop(
        provider, error.code, error.reason, moment, stops.seconds
    )


def _wait_for_channel(
    session: Session, delivery: _Due, moment: datetime, stop: ChannelStop
) -> DeliveryOutcome:
    """The provider refused our account (bad credentials, suspended, wrong sender): that is
    not the family's fault, so the delivery goes back to pending instead of failing, its
    claim not counted as an attempt, and is tried again once the channel's stop runs out."""
    move_delivery(
        session,
        delivery.id,
        DeliveryState.PENDING,
        now=moment,
        code=stop.code,
        detail=f"{WAITING_DETAIL}: {stop.reason}"[:300],
        only_from=[DeliveryState.SENDING],
        attempts=Delivery.attempts - 1,
    )
    session.commit()
    log.info("delivery %s waits for %s to be resumed", delivery.id, stop.provider)
    return DeliveryOutcome(Outcome.WAITING, max(stop.seconds_left, MIN_STOP_WAIT_SECONDS))


def _transient(
    session: Session, delivery: _Due, moment: datetime, exc: TransientFailure
) -> DeliveryOutcome:
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery.id)) or 0
    if attempts >= DELIVERY_ATTEMPTS:
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


#: Twilio's "the recipient has unsubscribed (texted STOP)": remembered like an inbound STOP.
TWILIO_UNSUBSCRIBED = "21610"


def _record_unsubscribed(session: Session, contact_id: int, moment: datetime) -> None:
    """Record an SMS opt-out for the contact's number, as an inbound STOP would."""
    phone = session.scalar(select(Contact.phone_e164).where(Contact.id == contact_id))
    if phone is None or session.get(SmsOptOut, phone) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                SmsOptOut(phone_e164=phone, keyword=TWILIO_UNSUBSCRIBED, opted_out_at=moment)
            )
    except IntegrityError:  # recorded meanwhile by another worker or the inbound webhook
        pass


def _fail(
    runtime: Runtime,
    session: Session,
    facts: AnnouncementFacts,
    delivery: _Due,
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
    failed = session.get(Delivery, delivery.id)
    follow_ups = start_follow_ups(session, failed, moment, runtime=runtime) if failed else []
    session.commit()
    log.warning("delivery %s failed permanently (%s)", delivery.id, code)
    if follow_ups:
        actor = DELIVER_ACTOR[Urgency(facts.category.urgency)]
        enqueue([QueuedWork(actor, follow_up) for follow_up in follow_ups])
    return DeliveryOutcome(Outcome.FAILED)
