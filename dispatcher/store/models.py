"""Database tables (SQLAlchemy 2 declarative). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dispatcher.domain import AnnouncementState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class School(Base):
    """A school, mirrored from ``config/schools/<slug>.toml``."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    trust: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Student(Base):
    """A pupil, identified by the school's MIS id."""

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "external_id", name="uq_students_school_external"),
        Index("ix_students_school_year", "school_id", "year"),
        Index("ix_students_school_class", "school_id", "class_name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    year: Mapped[int | None] = mapped_column(Integer)
    class_name: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Group(Base):
    """A named group of students (trip list, club, team)."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("school_id", "name", name="uq_groups_school_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    name: Mapped[str] = mapped_column(String(100))


class GroupMembership(Base):
    """A student's membership of a group."""

    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True, index=True)


class Contact(Base):
    """A parent, carer or emergency contact. Holds personal data: never log its fields."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("school_id", "external_id", name="uq_contacts_school_external"),
        Index("ix_contacts_phone", "phone_e164"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    phone_sms_capable: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(320))
    preferred_channel: Mapped[str | None] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(35))
    needs: Mapped[str] = mapped_column(String(200), default="")
    opt_outs: Mapped[str] = mapped_column(String(500), default="")
    push_token: Mapped[str | None] = mapped_column(String(500))
    push_token_dead: Mapped[bool] = mapped_column(Boolean, default=False)


class StudentContact(Base):
    """The link between a student and a contact, with the safeguarding flags."""

    __tablename__ = "student_contacts"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True, index=True)
    relationship: Mapped[str] = mapped_column(String(50), default="")
    priority: Mapped[int] = mapped_column(Integer, default=1)
    parental_responsibility: Mapped[bool] = mapped_column(Boolean, default=True)
    no_contact: Mapped[bool] = mapped_column(Boolean, default=False)


class Announcement(Base):
    """One request to tell an audience something; planned into deliveries."""

    __tablename__ = "announcements"
    __table_args__ = (
        UniqueConstraint("school_id", "idempotency_key", name="uq_announcements_idempotency"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    category: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16))
    audience: Mapped[list[str]] = mapped_column(JSON)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(32), default="cli")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=AnnouncementState.RECEIVED.value)
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    planned_deliveries: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    excluded_contacts: Mapped[int] = mapped_column(Integer, default=0)
    unreachable_contacts: Mapped[int] = mapped_column(Integer, default=0)
    language_fallbacks: Mapped[int] = mapped_column(Integer, default=0)


class PlanOutcome(Base):
    """A contact in an announcement's audience who gets no delivery, and why."""

    __tablename__ = "plan_outcomes"
    __table_args__ = (
        UniqueConstraint("announcement_id", "contact_id", name="uq_plan_outcomes_contact"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # excluded | unreachable
    reason: Mapped[str] = mapped_column(String(200))


#: The states of a delivery not yet handed to a provider (the ``ix_deliveries_open`` index).
OPEN_DELIVERY_STATES_SQL = text("state IN ('pending', 'held', 'sending')")


#: The deliveries being sent now (the ``ix_deliveries_sending`` index).
SENDING_SQL = text("state = 'sending'")


class Delivery(Base):
    """One message to one contact on one channel: the unit of work and of reporting."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "announcement_id", "contact_id", "channel", name="uq_deliveries_one_per_channel"
        ),
        # Only the deliveries still to send (what the sweep and --until-idle look for): a
        # small index, which a delivery leaves once sent, and which never tempts the planner
        # away from the primary key when a batch is claimed by id.
        Index(
            "ix_deliveries_open",
            "id",
            postgresql_where=OPEN_DELIVERY_STATES_SQL,
            sqlite_where=OPEN_DELIVERY_STATES_SQL,
        ),
        Index("ix_deliveries_announcement_state", "announcement_id", "state"),
        # The claims being sent, by worker: what the quick sweep asks every second.
        Index(
            "ix_deliveries_sending",
            "claimed_by",
            postgresql_where=SENDING_SQL,
            sqlite_where=SENDING_SQL,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(35))
    language_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    format: Mapped[str] = mapped_column(String(16))
    fallback_chain: Mapped[str] = mapped_column(String(32), default="")
    fallback_of: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The worker process that holds the claim (its heartbeat says whether it lives) and the
    #: claim's own token (the send journal's entries name it), while ``sending``.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    #: Requests made to a provider for this delivery (a claim that waited sends none).
    provider_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Released after its worker died with the provider's answer unknown, then sent
    #: again: the family may have had it twice (the report lists these).
    possible_duplicate: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(String(300))
    sms_segments: Mapped[int | None] = mapped_column(Integer)
    #: The text the family was sent (set with the send record; decision 0077).
    message_text_id: Mapped[int | None] = mapped_column(ForeignKey("message_texts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageText(Base):
    """A text as families read it (SMS body, email subject and plain text, push title and
    body), kept once per announcement and content: 3,000 families sent the same closure
    share one row. May hold personal data (a pupil's name); erased by the retention run
    (``erased_at``), which leaves the row so that counts keep their texts' shape."""

    __tablename__ = "message_texts"
    __table_args__ = (
        UniqueConstraint("announcement_id", "content_hash", name="uq_message_texts_content"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"))
    channel: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(35))
    format: Mapped[str] = mapped_column(String(16))
    #: SHA-256 (hex) of channel, language, format, subject and body.
    content_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryEvent(Base):
    """A change of a delivery's state, with when and the provider's code."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))


class DeliveryTally(Base):
    """A change in how many of an announcement's deliveries are on a channel in a state
    (``n``, +1 or -1 per delivery, or a folded sum), with the send times it brought.

    Written only by database triggers on ``deliveries`` (migration 0012), in the
    transaction that changes the delivery: the sum of ``n`` per channel and state equals the
    GROUP BY over the deliveries, at any snapshot. Insert-only for writers (no row is a hot
    counter); ``store.tallies.fold_tallies`` folds an announcement's rows into one per
    channel and state (decision 0097)."""

    __tablename__ = "delivery_tallies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(BigId, index=True)
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(Integer)
    first_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who did what: every announcement sent, every roster import."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CallLog(Base):
    """A phone call the office made to a family about an announcement, and its outcome."""

    __tablename__ = "call_logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    called_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A message the outbox channel 'sent': the rendered text, kept for inspection."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    to_address: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsOptOut(Base):
    """A mobile number that texted STOP (or UNSUBSCRIBE...) to our sender: no more SMS to it
    for categories that allow opting out, until it texts START. Holds personal data."""

    __tablename__ = "sms_opt_outs"

    phone_e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    keyword: Mapped[str] = mapped_column(String(16))
    opted_out_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboundMessage(Base):
    """A text a family sent to our number: a keyword (STOP/START) or a reply, matched to the
    latest delivery to that number where there is one. Holds personal data."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # stop | start | reply
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))


class ApiToken(Base):
    """An API credential: only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # office | senior | admin
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))  # None: see trust
    #: The trust whose member schools it covers; with school_id None too: every school.
    trust: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffAccount(Base):
    """A person who signs in to the staff console (not an API token): only an Argon2 hash
    of the password is stored, and the TOTP secret once the second factor is enrolled."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: Lower-cased, so that one address is one account whatever its case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # office | senior | admin
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))  # None: see trust
    #: The trust whose member schools they act for; with school_id None too: every school.
    trust: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Base32 TOTP secret; None until the second factor is enrolled.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The last TOTP time step accepted, so that one code signs in once.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: A mobile number (E.164) where the product texts them, e.g. a send awaiting sign-off.
    phone: Mapped[str | None] = mapped_column(String(20))
    #: When an admin turned the account off (it cannot sign in); None while it is on.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyRecord(Base):
    """The first answer to a request carrying an ``Idempotency-Key``, replayed for repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_records_scope_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # e.g. the token's id
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MisEvent(Base):
    """An event from a school's management system, stored before it is acknowledged."""

    __tablename__ = "mis_events"
    __table_args__ = (UniqueConstraint("school_id", "event_id", name="uq_mis_events_school_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    event_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # a MisEventStatus
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(300))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))


class ReminderFire(Base):
    """A calendar reminder that has been handled (sent, or reported as missed): exactly once."""

    __tablename__ = "reminder_fires"
    __table_args__ = (
        UniqueConstraint("school_id", "reminder_key", name="uq_reminder_fires_school_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    reminder_key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))  # sent | missed
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))
    detail: Mapped[str | None] = mapped_column(String(300))


class SignOffRequest(Base):
    """An announcement waiting for (or decided by) a second senior's sign-off: the exact
    request asked for, who asked and when, and what became of it (decision 0088)."""

    __tablename__ = "sign_off_requests"
    __table_args__ = (Index("ix_sign_off_requests_school_state", "school_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    category: Mapped[str] = mapped_column(String(64))
    #: The ``AnnouncementRequest`` as JSON: school, category, audience, variables, send_at,
    #: idempotency key (what approving sends, unchanged).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))  # a SignOffState
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The approver's or rejecter's note (a rejection's reason).
    reason: Mapped[str | None] = mapped_column(String(500))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))


class StaffNotification(Base):
    """A text or email telling a senior that a request waits for their sign-off, sent
    through the channel adapters; holds no address (the account has it)."""

    __tablename__ = "staff_notifications"
    __table_args__ = (
        UniqueConstraint(
            "sign_off_request_id",
            "staff_account_id",
            "channel",
            name="uq_staff_notifications_request_account_channel",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sign_off_request_id: Mapped[int] = mapped_column(ForeignKey("sign_off_requests.id"))
    staff_account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    channel: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))  # queued | sending | sent | failed
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
