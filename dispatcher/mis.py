"""Events from a school's management system (MIS): signatures, validation and processing.

An event arrives at ``POST /webhooks/mis/{school}`` signed with HMAC-SHA256 over
``timestamp + "." + body`` with the school's secret (``DISPATCHER_MIS_SECRET_<SLUG>``). It is
checked (:func:`verify_signature`, :func:`parse_event`), stored in ``mis_events`` with status
``received`` and acknowledged; the ``process_mis_event`` actor then applies it
(:func:`process_event`) and marks it ``processed`` or ``failed``. Events left ``received``
(the queue lost them) are queued again by the recovery sweep (:func:`replay_received_events`).

Event types:

- ``payment.due`` / ``payment.overdue``: a ``payment_request`` announcement to the student's
  contacts (audience ``student:<id>``; routing keeps it to contacts with parental
  responsibility);
- ``contact.updated``: a contact's mobile, email, preferred channel, language or needs change,
  checked with the roster import's rules;
- ``student.left``: the student becomes inactive (no longer in any audience).

Nothing here logs personal data: logs carry event ids, types and school slugs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from dramatiq.brokers.redis import RedisBroker
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatcher.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    validate_request,
)
from dispatcher.domain import Channel
from dispatcher.queueing import (
    MIS_EVENT_ACTOR,
    QueuedWork,
    mis_marker,
    missing_markers,
    plan_work,
)
from dispatcher.queueing import enqueue as enqueue_messages
from dispatcher.roster import (
    normalise_email,
    normalise_language,
    normalise_phone,
    parse_channel,
    parse_needs,
)
from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, Contact, MisEvent, School, Student

log = logging.getLogger("dispatcher.mis")

#: Signed requests older (or further in the future) than this are refused: the replay window.
SIGNATURE_TOLERANCE = timedelta(minutes=5)
TIMESTAMP_HEADER = "X-MIS-Timestamp"
SIGNATURE_HEADER = "X-MIS-Signature"
SECRET_VARIABLE_PREFIX = "DISPATCHER_MIS_SECRET_"
#: An event younger than this may still be on its way to the queue: the sweep leaves it.
ENQUEUE_SETTLE = timedelta(seconds=5)

PAYMENT_TYPES = ("payment.due", "payment.overdue")
EVENT_TYPES = (*PAYMENT_TYPES, "contact.updated", "student.left")


# --- signatures (pure) -----------------------------------------------------------------------


class SignatureError(ValueError):
    """The request is not signed as it must be; ``field`` names the header at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def secret_variable(school: str) -> str:
    """The environment variable holding ``school``'s secret: ``DISPATCHER_MIS_SECRET_`` and
    the slug in capitals with dashes as underscores (``three-dimensions`` ->
    ``DISPATCHER_MIS_SECRET_THREE_DIMENSIONS``)."""
    return SECRET_VARIABLE_PREFIX + school.upper().replace("-", "_")


def school_secret(school: str, environ: dict[str, str] | None = None) -> bytes | None:
    """``school``'s MIS secret from the environment, or None when it has none."""
    value = (environ if environ is not None else os.environ).get(secret_variable(school), "")
    return value.encode("utf-8") if value else None


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-MIS-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds):
    ``sha256=`` and the hex HMAC-SHA256 of ``timestamp + "." + body``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def verify_signature(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Accept a request signed with ``secret`` within :data:`SIGNATURE_TOLERANCE` of ``now``;
    raise ``SignatureError`` naming the header otherwise. Compares in constant time."""
    ts_field, sig_field = f"header.{TIMESTAMP_HEADER}", f"header.{SIGNATURE_HEADER}"
    if not timestamp:
        raise SignatureError(ts_field, "missing: the unix time (seconds) the request was sent")
    if not _TIMESTAMP.match(timestamp.strip()):
        raise SignatureError(ts_field, "must be the unix time in whole seconds")
    timestamp = timestamp.strip()
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise SignatureError(
            ts_field,
            "more than 5 minutes from our clock: a stale request (or a replay) is refused",
        )
    if not signature:
        raise SignatureError(sig_field, "missing: sha256=<hex HMAC-SHA256>")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError(sig_field, "does not match the body and timestamp")


# --- payloads (pure) ----------------------------------------------------------------------


def _mis_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ValueError("must not contain control characters")
    return text


MisId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_mis_id)]


def _text(value: str) -> str:
    if any(
        (ord(c) < 0x20 and c not in "\t\n\r") or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF
        for c in value
    ):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class EventEnvelope(BaseModel):
    """Every MIS event: an id, a type, when it happened, and the type's ``data``."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_mis_id)] = Field(
        description="The MIS's id for this event; a repeated id is acknowledged and ignored."
    )
    type: str = Field(min_length=1, max_length=64, description="One of: " + ", ".join(EVENT_TYPES))
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened in the MIS (ISO 8601 with offset)."
    )
    data: dict[str, Any] = Field(description="The event's fields (by type).")


class PaymentData(BaseModel):
    """``payment.due`` / ``payment.overdue``: a payment the family should make."""

    model_config = ConfigDict(extra="ignore")

    student_id: MisId = Field(description="The student's MIS id.", examples=["S104"])
    item: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_text)] = Field(
        description="What it is for.", examples=["Year 6 residential"]
    )
    amount_pence: int = Field(
        strict=True, ge=1, le=100_000_000, description="Amount in pence.", examples=[8500]
    )
    due_date: date = Field(description="Due date (YYYY-MM-DD).", examples=["2026-12-04"])
    payment_link: HttpUrl = Field(
        description="Where to pay (https).", examples=["https://pay.example/abc"]
    )

    @field_validator("payment_link")
    @classmethod
    def _https(cls, value: HttpUrl) -> HttpUrl:
        if value.scheme != "https":
            raise ValueError("must be an https:// link")
        if len(str(value)) > 500:
            raise ValueError("at most 500 characters")
        return value


def _mobile(value: str | None) -> str | None:
    return normalise_phone(value).e164 if value else None


def _email(value: str | None) -> str | None:
    return normalise_email(value) if value else None


def _language(value: str | None) -> str | None:
    return normalise_language(value) if value else None


def _preferred(value: str | None) -> str | None:
    channel = parse_channel(value.strip()) if value else None
    return channel.value if channel else None


def _need_list(value: list[str] | str | None) -> list[str]:
    text = value if isinstance(value, str) else ";".join(value or [])
    return sorted(need.value for need in parse_needs(text))


class ContactChanges(BaseModel):
    """The changed fields of a contact: only those given change; ``null`` or ``""`` clears
    one. Checked with the roster import's rules (UK or international mobile, email syntax,
    ``sms``/``email``/``push``, a BCP 47 language, known needs)."""

    model_config = ConfigDict(extra="forbid")

    mobile: Annotated[str | None, Field(max_length=40), AfterValidator(_mobile)] = Field(
        default=None,
        description="Mobile number, any UK or international format.",
        examples=["07700 900123"],
    )
    email: Annotated[str | None, Field(max_length=320), AfterValidator(_email)] = Field(
        default=None, description="Email address.", examples=["parent@example.com"]
    )
    preferred_channel: Annotated[str | None, Field(max_length=16), AfterValidator(_preferred)] = (
        Field(default=None, description="sms, email or push.", examples=["sms"])
    )
    language: Annotated[str | None, Field(max_length=35), AfterValidator(_language)] = Field(
        default=None, description="BCP 47 language tag.", examples=["pl"]
    )
    needs: Annotated[
        Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=20)]
        | Annotated[str, Field(max_length=300)]
        | None,
        AfterValidator(_need_list),
    ] = Field(
        default=None,
        description="The full list of needs (replaces the old one): no_sms, no_email, "
        "hearing_impaired, visually_impaired, large_print, easy_read, screen_reader.",
        examples=[["large_print"]],
    )


class ContactUpdatedData(BaseModel):
    """``contact.updated``: some of a contact's details changed in the MIS."""

    model_config = ConfigDict(extra="ignore")

    contact_id: MisId = Field(description="The contact's MIS id.", examples=["C220"])
    changes: ContactChanges = Field(description="The changed fields.")

    @field_validator("changes")
    @classmethod
    def _not_empty(cls, value: ContactChanges) -> ContactChanges:
        if not value.model_fields_set:
            raise ValueError(
                "give at least one of mobile, email, preferred_channel, language, needs"
            )
        return value


class StudentLeftData(BaseModel):
    """``student.left``: the student left the school."""

    model_config = ConfigDict(extra="ignore")

    student_id: MisId = Field(description="The student's MIS id.", examples=["S104"])
    left_on: date | None = Field(default=None, description="Last day (YYYY-MM-DD).")


EventData = PaymentData | ContactUpdatedData | StudentLeftData
_DATA_MODELS: dict[str, type[BaseModel]] = {
    "payment.due": PaymentData,
    "payment.overdue": PaymentData,
    "contact.updated": ContactUpdatedData,
    "student.left": StudentLeftData,
}


class PayloadError(ValueError):
    """A payload is not a valid event; ``errors`` are ``(field path, message)`` pairs, with
    paths like ``body.data.amount_pence``. Messages never repeat personal data."""

    def __init__(self, errors: list[tuple[str, str]], unknown_type: bool = False) -> None:
        self.errors = errors
        self.unknown_type = unknown_type
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


def _errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    return [
        (
            ".".join([prefix, *(str(part) for part in e["loc"])]),
            str(e["msg"]).removeprefix("Value error, "),
        )
        for e in exc.errors()
    ]


def parse_event(payload: Any) -> tuple[EventEnvelope, EventData]:
    """Validate a decoded JSON payload; raise ``PayloadError`` naming each bad field."""
    if not isinstance(payload, dict):
        raise PayloadError([("body", "must be a JSON object with id, type and data")])
    try:
        envelope = EventEnvelope.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(_errors(exc, "body")) from None
    model = _DATA_MODELS.get(envelope.type)
    if model is None:
        raise PayloadError(
            [("body.type", "unknown event type; expected one of " + ", ".join(EVENT_TYPES))],
            unknown_type=True,
        )
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise PayloadError(_errors(exc, "body.data")) from None
    assert isinstance(data, PaymentData | ContactUpdatedData | StudentLeftData)
    return envelope, data


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


# --- storing and queueing -------------------------------------------------------------------


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
        status="received",
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
                    MisEvent.status == "received", MisEvent.received_at <= now - ENQUEUE_SETTLE
                )
            )
        )
    keys = {mis_marker(i): i for i in ids}
    lost = sorted(keys[k] for k in missing_markers(broker, keys))
    enqueue_events(broker, lost)
    if lost:
        log.warning("sweep: %d MIS events re-queued", len(lost))
    return len(lost)


# --- processing -----------------------------------------------------------------------------


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
        if event is None or event.status != "received":
            return "skipped"
        school = session.get(School, event.school_id)
        assert school is not None
        event_type, external_event_id, payload = event.event_type, event.event_id, event.payload
        claimed = session.execute(
            update(MisEvent)
            .where(MisEvent.id == mis_event_id, MisEvent.status == "received")
            .values(status="processed", processed_at=now)
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
                .where(MisEvent.id == mis_event_id, MisEvent.status == "received")
                .values(status="failed", processed_at=now, error=reason)
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


def event_json_schema() -> dict[str, Any]:
    """The JSON schema of an event body for the OpenAPI document: one branch per type,
    with every ``$ref`` resolved inline."""
    branches = []
    for event_type, model in _DATA_MODELS.items():
        envelope = EventEnvelope.model_json_schema()
        envelope["properties"]["type"] = {
            "type": "string",
            "const": event_type,
            "description": f"`{event_type}`",
        }
        envelope["properties"]["data"] = _inline(model.model_json_schema())
        envelope["title"] = f"{event_type} event"
        branches.append(_inline(envelope))
    return {"oneOf": branches, "description": "An MIS event (by `type`)."}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = resolve(dict(defs[ref.removeprefix("#/$defs/")]))
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return {**target, **resolve(extra)}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
