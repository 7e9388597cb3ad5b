"""The REST API's request and response bodies: pydantic models with descriptions and
examples, from which the OpenAPI document is generated (never written twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from dispatcher.domain import CallOutcome
from dispatcher.plain_text import plain_text_problem
from dispatcher.store.deliveries import as_utc
from dispatcher.store.models import Announcement

#: Largest id the databases hold (BIGINT).
MAX_ID = 2**63 - 1
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


#: How far ahead an announcement may be scheduled.
MAX_SEND_AHEAD = timedelta(days=366)


def plain_text(value: str) -> str:
    """Accept text without NUL, other control characters (tab and line breaks are fine) or
    unpaired surrogates: what every database and channel can hold."""
    problem = plain_text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


PlainText = Annotated[str, AfterValidator(plain_text)]


class AnnouncementDetails(BaseModel):
    """What to send, to whichever schools the route names."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_]+$",
        description="A category of `config/policy.toml`: emergency_closure, "
        "short_notice_change, payment_request, trip_letter, consent_request, term_dates, "
        "event_reminder, newsletter or survey. Urgent categories need a senior or admin "
        "token.",
        examples=["trip_letter"],
    )
    audience: list[Annotated[PlainText, Field(min_length=1, max_length=120)]] = Field(
        min_length=1,
        max_length=50,
        description="Who it is for, any number of: `school` (whole school: senior or admin "
        "tokens only), `year:6` (`year:R` reception, `year:N` nursery), `class:6B`, "
        "`group:trip-paris`, `student:<MIS id>`.",
        examples=[["year:6"], ["class:6B", "group:choir"]],
    )
    variables: dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")],
        Annotated[PlainText, Field(max_length=2000)],
    ] = Field(
        default_factory=dict,
        max_length=50,
        description="The category's template variables (listed in the repository's "
        "docs/operations/configuration.md, Templates), e.g. `date` and `reason` for an "
        "emergency closure. A missing one is a 422 naming it.",
        examples=[{"date": "Tuesday 24 November", "reason": "heavy snow"}],
    )
    send_at: AwareDatetime | None = Field(
        default=None,
        description="Send later (at most a year ahead): an ISO 8601 time with its offset. "
        "Omitted or in the past: now. Non-urgent messages still wait for the school's send "
        "window.",
        examples=["2026-11-24T07:00:00Z"],
    )

    @field_validator("send_at")
    @classmethod
    def _representable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            in_utc = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("not a time we can represent in UTC") from None
        if in_utc.year < 2000:
            raise ValueError("must be after the year 2000")
        return value


class AnnouncementIn(AnnouncementDetails):
    """What to send: the same request as ``dispatcher announce``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "school": "demo",
                    "category": "trip_letter",
                    "audience": ["year:6"],
                    "variables": {
                        "trip": "Year 6 residential",
                        "date": "Monday 8 June",
                        "letter_url": "https://demo-primary.example/letters/y6-residential",
                    },
                },
                {
                    "school": "demo",
                    "category": "emergency_closure",
                    "audience": ["school"],
                    "variables": {"date": "Tuesday 24 November", "reason": "heavy snow"},
                },
            ]
        },
    )

    school: str = Field(
        max_length=64,
        pattern=SLUG_PATTERN,
        description="The school's slug (its file name under `config/schools/`).",
        examples=["demo"],
    )


class TrustAnnouncementIn(AnnouncementDetails):
    """What to send to every member school of a trust: the same request as ``dispatcher
    announce --trust``. Each member school gets its own announcement, with its own name and
    phone in the text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "emergency_closure",
                    "audience": ["school"],
                    "variables": {"date": "Tuesday 24 November", "reason": "heavy snow"},
                }
            ]
        },
    )


class AnnouncementOut(BaseModel):
    """An announcement and how far it has got."""

    id: int = Field(description="Announcement id.", examples=[42])
    school: str = Field(description="School slug.", examples=["demo"])
    category: str = Field(description="Category.", examples=["trip_letter"])
    urgency: str = Field(description="urgent, normal or bulk.", examples=["normal"])
    audience: list[str] = Field(description="Audience, normalised.", examples=[["year:6"]])
    variables: dict[str, str] = Field(description="Template variables as sent.")
    state: str = Field(
        description="received (stored, plan queued), planning (deliveries being written), "
        "sending (every delivery written, some not yet handed to a provider), done (nothing "
        "left to send) or cancelled.",
        examples=["received"],
    )
    requested_by: str = Field(description="Token name (or CLI user).", examples=["office-demo"])
    trigger: str = Field(description="api, cli, console, mis or clock.", examples=["api"])
    send_at: datetime | None = Field(description="When it is to be sent, if later.")
    created_at: datetime = Field(description="When it was stored.")
    planned_at: datetime | None = Field(description="When planning finished.")
    planned_deliveries: int = Field(description="Deliveries written so far.", examples=[412])
    recipients: int = Field(description="Contacts receiving it (so far).", examples=[230])
    excluded_contacts: int = Field(description="Contacts excluded by policy (counted only).")
    unreachable_contacts: int = Field(description="Contacts no channel can reach.")


class UnreachableContact(BaseModel):
    """A contact no channel can reach: the office should phone them."""

    student_id: str = Field(description="Student's MIS id.")
    student_name: str = Field(description="Student's name.")
    contact_id: str = Field(description="Contact's MIS id.")
    contact_name: str = Field(description="Contact's name.")
    phone: str = Field(
        description="The number to phone, in E.164; empty when none, and for a contact who "
        "must not be phoned (see `phone_advice`)."
    )
    phone_advice: str = Field(
        default="",
        description='"do not phone — text, email or Relay UK" (hearing-impaired), "phone '
        'first" (sight-impaired), or empty.',
    )
    text_relay_number: str = Field(
        default="",
        description="For a contact who must not be phoned: their number (E.164), to text or "
        "to reach through Relay UK.",
    )
    reason: str = Field(description="Why no channel can reach them.")


class FallenBackLanguage(BaseModel):
    """A language the audience asked for that the category has no template in."""

    name: str = Field(description="The language's English name.", examples=["Somali"])
    contacts: int = Field(description="Contacts who asked for it (they get the default).")


class MessageSampleOut(BaseModel):
    """What the families reading one language would get (sample names)."""

    language: str = Field(description="Language tag.", examples=["pl"])
    language_name: str = Field(description="Its English name.", examples=["Polish"])
    sms: str | None = Field(description="The text message, or null if none is sent.")
    sms_segments: int | None = Field(description="SMS segments of that text.")
    sms_encoding: str | None = Field(description="GSM-7 or UCS-2.")
    email_subject: str | None = Field(description="The email's subject.")
    email_first_lines: list[str] = Field(description="The email's first lines (plain text).")
    push_title: str | None = Field(description="The app notification's title.")
    push_body: str | None = Field(description="The app notification's text.")


class PlanOut(BaseModel):
    """What sending would do (``?dry_run=true``): nothing is stored or sent."""

    announcement_id: None = Field(default=None, description="Always null: nothing was stored.")
    school: str = Field(description="School slug.")
    category: str = Field(description="Category.")
    urgency: str = Field(description="urgent, normal or bulk.")
    audience: list[str] = Field(description="Audience as given.")
    recipients: int = Field(description="Contacts (parents and carers) who would receive it.")
    contact_languages: dict[str, int] = Field(
        description="Those contacts by the language they would read.", examples=[{"en": 220}]
    )
    messages: int = Field(description="Messages in total (all channels).", examples=[420])
    deliveries: dict[str, int] = Field(
        description="Messages per channel.", examples=[{"sms": 180, "email": 240}]
    )
    email_backups: int = Field(description="Of which email back-ups (urgent categories).")
    languages: dict[str, int] = Field(
        description="Messages per language.", examples=[{"en": 400, "pl": 12}]
    )
    language_fallbacks: int = Field(
        description="Messages in the school's default language because the category has no "
        "template in the contact's."
    )
    fallen_back_languages: dict[str, FallenBackLanguage] = Field(
        description="The languages that fell back, by tag, with how many contacts asked.",
        examples=[{"so": {"name": "Somali", "contacts": 4}}],
    )
    excluded: dict[str, int] = Field(description="Contacts excluded by policy, by reason.")
    unreachable: list[UnreachableContact] = Field(description="Contacts no channel can reach.")
    sms_segments: int = Field(description="SMS segments in total.")
    sms_encodings: dict[str, str] = Field(
        description="SMS encoding (GSM-7 or UCS-2) per language in which a text would go."
    )
    samples: list[MessageSampleOut] = Field(
        description="The messages themselves, one per language the audience reads."
    )
    estimated_cost_gbp: str = Field(description="Estimated cost in pounds.", examples=["3.42"])
    hold_until: datetime | None = Field(
        description="When the messages would go, if they would wait for the school's next "
        "school day's send window (weekends, bank holidays, school holidays)."
    )
    hold_until_local: str | None = Field(
        default=None,
        description="hold_until in the school's time, in words.",
        examples=["Monday 4 January 2027 at 08:00"],
    )
    hold_reason: str | None = Field(
        default=None,
        description="Why they would wait: the first day the school is shut, or the window.",
        examples=["Friday 25 December 2026: bank holiday (Christmas Day)"],
    )


class AnnouncementList(BaseModel):
    """A page of announcements, newest first."""

    announcements: list[AnnouncementOut] = Field(description="The announcements.")


class TrustAnnouncementsOut(BaseModel):
    """A trust-wide announcement: one announcement per member school."""

    trust: str = Field(description="The trust's slug.", examples=["sendat"])
    announcements: list[AnnouncementOut] = Field(
        description="One per member school, in the trust's order."
    )


class TrustPlanOut(BaseModel):
    """What a trust-wide send would do (``?dry_run=true``): each member school's plan."""

    trust: str = Field(description="The trust's slug.", examples=["sendat"])
    schools: list[PlanOut] = Field(description="One plan per member school.")


class CancelOut(BaseModel):
    """The result of a cancel."""

    announcement: AnnouncementOut = Field(description="The announcement, now cancelled.")
    cancelled_deliveries: int = Field(
        description="Deliveries that had not gone yet (pending or held) and now never will."
    )
    deliveries_by_state: dict[str, int] = Field(
        description="Every delivery of the announcement by state, after the cancel: those "
        "already sending or sent could not be stopped.",
        examples=[{"cancelled": 300, "sent": 112}],
    )


# --- helpers -----------------------------------------------------------------------------------


def announcement_out(announcement: Announcement, school: str) -> AnnouncementOut:
    """The API view of an announcement row."""

    def utc(moment: datetime | None) -> datetime | None:
        return as_utc(moment) if moment is not None else None

    return AnnouncementOut(
        id=announcement.id,
        school=school,
        category=announcement.category,
        urgency=announcement.urgency,
        audience=list(announcement.audience),
        variables={str(k): str(v) for k, v in dict(announcement.variables).items()},
        state=announcement.state,
        requested_by=announcement.requested_by,
        trigger=announcement.trigger,
        send_at=utc(announcement.send_at),
        created_at=as_utc(announcement.created_at),
        planned_at=utc(announcement.planned_at),
        planned_deliveries=announcement.planned_deliveries,
        recipients=announcement.recipients,
        excluded_contacts=announcement.excluded_contacts,
        unreachable_contacts=announcement.unreachable_contacts,
    )


class EventAccepted(BaseModel):
    """The event was stored (202) or was a repeat and is ignored (200)."""

    status: str = Field(description="`accepted` (stored, to be processed) or `duplicate`.")
    event_id: str = Field(description="The MIS's event id, echoed.", examples=["evt_000123"])


class CallIn(BaseModel):
    """A phone call the office made to a family about the announcement."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"contact_id": "C1024", "outcome": "reached", "note": "Grandad will collect"}
            ]
        },
    )

    contact_id: str = Field(
        min_length=1, max_length=64, description="MIS id of the contact phoned.", examples=["C1"]
    )
    student_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="MIS id of the pupil (default: the one the announcement was about).",
    )
    outcome: CallOutcome = Field(
        description="reached or voicemail (the family has the message: it leaves the list to "
        "phone), no_answer or wrong_number (it stays, with the attempt beside it)."
    )
    note: PlainText = Field(default="", max_length=500, description="What was said or agreed.")


class CallOut(BaseModel):
    """A logged call."""

    id: int = Field(description="Call id.")
    contact_id: str = Field(description="MIS id of the contact phoned.")
    contact_name: str = Field(description="Their name.")
    student_id: str = Field(description="MIS id of the pupil (empty: none).")
    student_name: str = Field(description="The pupil's name.")
    outcome: CallOutcome = Field(description="What came of the call.")
    note: str = Field(description="The note.")
    called_by: str = Field(description="Who phoned (the token's name through the API).")
    at: datetime = Field(description="When it was logged.")


class CallList(BaseModel):
    """The calls logged for an announcement, oldest first."""

    calls: list[CallOut] = Field(description="The calls.")


class ChannelProgress(BaseModel):
    """Messages of one channel (or all) by how far they have got."""

    pending: int = Field(description="Not handed to a provider yet (waiting, held, sending).")
    sent: int = Field(description="Handed to the provider, no delivery report yet.")
    delivered: int = Field(description="Confirmed delivered by the provider.")
    failed: int = Field(description="Failed, undelivered or bounced.")
    cancelled: int = Field(description="Cancelled before they went.")
    total: int = Field(description="All of them.")


class MessagesProgress(ChannelProgress):
    """Every message of the announcement."""

    through: int = Field(description="No longer pending (total minus pending).")


class ProgressOut(BaseModel):
    """How far an announcement has got: cheap to ask every two seconds while it sends."""

    announcement_id: int = Field(description="Announcement id.", examples=[42])
    state: str = Field(description="received, planning, sending, done or cancelled.")
    channels: dict[str, ChannelProgress] = Field(description="Per channel (sms, email, push).")
    messages: MessagesProgress = Field(description="All channels together.")
    percent_through: int | None = Field(
        description="Share of messages no longer pending, 0-100 (null while still planning).",
        examples=[87],
    )
    first_sent_at: datetime | None = Field(description="First hand-over to a provider.")
    last_sent_at: datetime | None = Field(description="Latest hand-over so far.")
