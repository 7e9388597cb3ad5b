"""Vocabulary shared by every layer: channels, urgency, needs, delivery states.

Pure values only: nothing here touches the database, the broker or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    """A way a message can reach a person."""

    SMS = "sms"
    EMAIL = "email"
    PUSH = "push"


class Urgency(StrEnum):
    """How urgent a category is: decides queue, send windows and back-ups."""

    URGENT = "urgent"
    NORMAL = "normal"
    BULK = "bulk"


class Need(StrEnum):
    """Accessibility and communication needs recorded against a contact.

    - ``no_sms``: cannot receive or read text messages.
    - ``no_email``: has no usable email (or cannot use one).
    - ``hearing_impaired``: do not rely on phone calls; text channels are fine.
    - ``visually_impaired``: email is sent in the large-print, screen-reader friendly format.
    - ``large_print``: email is sent in the large-print format.
    - ``easy_read``: simplified wording where the category has an easy-read template.
    - ``screen_reader``: prefer email (structured HTML) over SMS/push for the primary message.
    """

    NO_SMS = "no_sms"
    NO_EMAIL = "no_email"
    HEARING_IMPAIRED = "hearing_impaired"
    VISUALLY_IMPAIRED = "visually_impaired"
    LARGE_PRINT = "large_print"
    EASY_READ = "easy_read"
    SCREEN_READER = "screen_reader"


class MessageFormat(StrEnum):
    """Presentation variant of a rendered message."""

    STANDARD = "standard"
    LARGE_PRINT = "large_print"
    EASY_READ = "easy_read"


class DeliveryKind(StrEnum):
    """Why a delivery exists: the primary message, the urgent email back-up, a fallback to the
    contact's next channel, or an escalation to the student's next contact."""

    PRIMARY = "primary"
    BACKUP = "backup"
    FALLBACK = "fallback"
    ESCALATION = "escalation"


class AnnouncementState(StrEnum):
    """Where an announcement is, in the words the office reads:

    - ``received``: stored, its plan queued;
    - ``planning``: its deliveries being written, batch by batch;
    - ``sending``: every delivery written, some not yet handed to a provider (pending, held
      for the send window, or being sent);
    - ``done``: no delivery left to send (each sent, delivered, failed or cancelled). A late
      failure that starts a fallback makes it ``sending`` again until that one is sent;
    - ``cancelled``: nothing more is written or sent.
    """

    RECEIVED = "received"
    PLANNING = "planning"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


#: Announcements whose plan is still to run (the sweep replays a lost plan message).
UNPLANNED_STATES = frozenset({AnnouncementState.RECEIVED, AnnouncementState.PLANNING})


#: Announcements whose plan has run (or never will): planning them again does nothing.
PLANNED_STATES = frozenset(
    {AnnouncementState.SENDING, AnnouncementState.DONE, AnnouncementState.CANCELLED}
)


class CallOutcome(StrEnum):
    """What happened when the office phoned a family about an announcement."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong_number"


class MisEventStatus(StrEnum):
    """An MIS event: stored and acknowledged, then applied (or refused when applied)."""

    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class DeliveryState(StrEnum):
    """Life of one delivery. Only the transitions in ``ALLOWED_TRANSITIONS`` are possible."""

    PENDING = "pending"
    HELD = "held"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


ALLOWED_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset(
        {DeliveryState.SENDING, DeliveryState.HELD, DeliveryState.CANCELLED, DeliveryState.FAILED}
    ),
    DeliveryState.HELD: frozenset(
        {DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.CANCELLED}
    ),
    DeliveryState.SENDING: frozenset(
        {
            DeliveryState.SENT,
            DeliveryState.FAILED,
            DeliveryState.PENDING,  # released by the sweep after its grace period
            DeliveryState.DELIVERED,
            DeliveryState.UNDELIVERED,
            DeliveryState.BOUNCED,
        }
    ),
    DeliveryState.SENT: frozenset(
        {DeliveryState.DELIVERED, DeliveryState.UNDELIVERED, DeliveryState.BOUNCED}
    ),
    DeliveryState.DELIVERED: frozenset(),
    DeliveryState.FAILED: frozenset(),
    DeliveryState.UNDELIVERED: frozenset(),
    DeliveryState.BOUNCED: frozenset(),
    DeliveryState.CANCELLED: frozenset(),
}


#: States in which a delivery still has work to do (the worker is not idle).
ACTIVE_STATES = frozenset({DeliveryState.PENDING, DeliveryState.SENDING})


#: States of a delivery not yet handed to a provider: while one of its deliveries is in one,
#: an announcement is ``sending``, not ``done``.
OPEN_STATES = frozenset({DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.SENDING})


#: States after which nothing more will be sent for that delivery.
FINAL_STATES = frozenset(
    {
        DeliveryState.DELIVERED,
        DeliveryState.FAILED,
        DeliveryState.UNDELIVERED,
        DeliveryState.BOUNCED,
        DeliveryState.CANCELLED,
    }
)


#: States that count as "reached" (the provider accepted or confirmed the message).
REACHED_STATES = frozenset({DeliveryState.SENT, DeliveryState.DELIVERED})


# Roster priority: 1 first contact, 2 second contact, 3 emergency only.
FIRST_CONTACT = 1
SECOND_CONTACT = 2
EMERGENCY_ONLY = 3


@dataclass(frozen=True)
class StudentLink:
    """A contact's link to one audience student."""

    student_id: int
    priority: int
    parental_responsibility: bool
    no_contact: bool


@dataclass(frozen=True)
class ContactProfile:
    """What routing may know about a contact: only what decides channels, never names."""

    contact_id: int
    links: tuple[StudentLink, ...]
    sms_number: str | None = None
    has_phone: bool = False
    email: str | None = None
    push_token: str | None = None
    preferred_channel: Channel | None = None
    language: str | None = None
    needs: frozenset[Need] = frozenset()
    opt_outs: frozenset[str] = frozenset()
    sms_opted_out: bool = False


class SignOffState(StrEnum):
    """Where a request for a second senior's sign-off is (decision 0088)."""

    #: Asked; nobody has decided yet.
    WAITING = "waiting"
    #: A second senior approved it: the announcement was created and queued.
    APPROVED = "approved"
    #: A second senior refused it (with a reason); nothing was sent.
    REJECTED = "rejected"
    #: The requester took it back; nothing was sent.
    WITHDRAWN = "withdrawn"
    #: Nobody decided in time and the requester sent it alone (break-glass).
    BROKE_GLASS = "broke_glass"
