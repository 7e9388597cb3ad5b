"""What the "Check before sending" page shows, as plain data for ``_preview.html``: the
messages parents will read (the text as a phone shows it, the email whole, the push) in
every language of the audience and every format, and the counts (families, messages per
channel, cost, when it goes, contacts left out, families no channel reaches, named with
what the office should do).

Built on ``planning.preview.preview_plan`` (the same dry run as ``dispatcher announce
--dry-run`` and the API's ``dry_run``): the page and the plan cannot disagree. The
sign-off page shows an approver the same partial, built by the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dispatcher.audience import parse_audience
from dispatcher.domain import Channel, MessageFormat
from dispatcher.planning.phoning import DO_NOT_PHONE, PHONE_FIRST
from dispatcher.planning.preview import PlanSummary, preview_plan
from dispatcher.planning.routing import UNREACHABLE_NO_CHANNEL
from dispatcher.planning.windows import local_time_in_words
from dispatcher.rendering.languages import language_name
from dispatcher.rendering.phone_numbers import readable_phone
from dispatcher.rendering.templates import RenderedMessage, text_direction
from dispatcher.runtime import Runtime
from dispatcher.store.audience_choices import students_by_id
from dispatcher.triggers.announcements import AnnouncementRequest
from dispatcher.web.console.compose_words import FORMAT_NAMES, category_name, year_words

#: Where the email of a preview is served, for its sandboxed frame (``compose.py``).
EMAIL_FRAME_PATH: Final = "/compose/email"

_ENCODING_WORDS: Final = {
    "GSM-7": "Standard characters (GSM-7): 160 a part, 153 a part when split",
    "UCS-2": "Unicode (UCS-2), for letters outside the standard set: 70 a part, 67 when split",
}
_CHANNEL_WORDS: Final = {
    Channel.SMS: "Text messages",
    Channel.PUSH: "App notifications",
    Channel.EMAIL: "Emails",
}


@dataclass(frozen=True)
class TextView:
    """A text message as a phone shows it, measured."""

    text: str
    characters: int
    segments: int
    encoding: str
    cost: str


@dataclass(frozen=True)
class EmailView:
    """An email: its subject and where its frame loads it from."""

    subject: str
    frame_url: str
    frame_title: str


@dataclass(frozen=True)
class PushView:
    """An app notification."""

    title: str
    body: str


@dataclass(frozen=True)
class FormatView:
    """The messages of one format (standard, large print, easy read) in one language."""

    key: str
    name: str
    text: TextView | None
    email: EmailView | None
    push: PushView | None


@dataclass(frozen=True)
class LanguageView:
    """The messages in one language the audience reads."""

    tag: str
    name: str
    direction: str
    contacts: int
    formats: list[FormatView]

    @property
    def panel_id(self) -> str:
        """The id of its tab panel."""
        return f"preview-{self.tag}"


@dataclass(frozen=True)
class UnreachableView:
    """A family no channel reaches: who, why, and what the office should do."""

    contact_name: str
    student_name: str
    reason: str
    advice: str
    phone: str
    phone_href: str


@dataclass(frozen=True)
class PreviewView:
    """Everything the preview partial shows."""

    school_name: str
    category: str
    category_description: str
    audience: list[str]
    families: int
    messages: list[tuple[str, int]]
    email_backups: int
    total_messages: int
    cost: str
    when: str
    excluded: int
    unreachable: list[UnreachableView]
    languages: list[LanguageView]
    fallbacks: list[str]


def _money(amount: Decimal) -> str:
    return f"£{amount.quantize(Decimal('0.01')):,}"


def _audience_words(parts: list[str], student_names: dict[str, str]) -> list[str]:
    words = []
    for selector in parse_audience(parts):
        if selector.kind == "school":
            words.append("The whole school")
        elif selector.kind == "year":
            words.append(year_words(int(selector.value)))
        elif selector.kind == "class":
            words.append(f"Class {selector.value}")
        elif selector.kind == "group":
            words.append(f"Group: {selector.value}")
        else:
            words.append(student_names.get(selector.value, f"Student {selector.value}"))
    return words


def _frame_url(request: AnnouncementRequest, message: RenderedMessage) -> str:
    pairs = [
        ("school", request.school),
        ("category", request.category),
        ("language", message.language),
        ("format", message.format.value),
    ]
    pairs += [(f"val-{name}", value) for name, value in sorted(request.variables.items())]
    return f"{EMAIL_FRAME_PATH}?{urlencode(pairs)}"


def _format_view(
    runtime: Runtime,
    request: AnnouncementRequest,
    language: str,
    fmt: MessageFormat,
    messages: dict[Channel, RenderedMessage],
) -> FormatView:
    text = email = push = None
    sms = messages.get(Channel.SMS)
    if sms is not None and sms.sms is not None:
        price = runtime.configuration.policy.pricing.sms_segment_gbp * sms.sms.segments
        text = TextView(
            text=sms.body,
            characters=sms.sms.characters,
            segments=sms.sms.segments,
            encoding=_ENCODING_WORDS.get(sms.sms.encoding, sms.sms.encoding),
            cost=_money(price),
        )
    mail = messages.get(Channel.EMAIL)
    if mail is not None:
        title = f"The email in {language_name(language)}, {FORMAT_NAMES[fmt].lower()}"
        email = EmailView(mail.subject or "", _frame_url(request, mail), title)
    notification = messages.get(Channel.PUSH)
    if notification is not None:
        push = PushView(notification.title or "", notification.body)
    return FormatView(f"{language}-{fmt.value}", FORMAT_NAMES[fmt], text, email, push)


def _languages(
    runtime: Runtime, request: AnnouncementRequest, summary: PlanSummary, default: str
) -> list[LanguageView]:
    shown = set(summary.languages) or {default}
    by_language: dict[str, dict[MessageFormat, dict[Channel, RenderedMessage]]] = {}
    for message in summary.rendered:
        if message.language in shown:
            formats = by_language.setdefault(message.language, {})
            formats.setdefault(message.format, {})[message.channel] = message
    views = []
    order = [MessageFormat.STANDARD, MessageFormat.LARGE_PRINT, MessageFormat.EASY_READ]
    for language in sorted(by_language, key=lambda tag: (tag != default, tag)):
        formats = by_language[language]
        views.append(
            LanguageView(
                tag=language,
                name=language_name(language),
                direction=text_direction(language),
                contacts=summary.contact_languages.get(language, 0),
                formats=[
                    _format_view(runtime, request, language, fmt, formats[fmt])
                    for fmt in order
                    if fmt in formats
                ],
            )
        )
    return views


def _unreachable(rows: list[dict[str, str]]) -> list[UnreachableView]:
    views = []
    for row in rows:
        reason = row.get("reason", "").removeprefix(f"{UNREACHABLE_NO_CHANNEL}: ")
        phone, relay = row.get("phone", ""), row.get("text_relay_number", "")
        advice = row.get("phone_advice", "")
        if advice == DO_NOT_PHONE:
            number = readable_phone(relay)
            advice = (
                "Hearing impaired: do not phone. Text or email them another way, or call "
                f"through Relay UK (18002 {number})"
                if number
                else "Hearing impaired: do not phone. Write to them or ask at the school gate"
            )
        elif phone:
            first = "Phone them first (sight impaired). " if advice == PHONE_FIRST else ""
            advice = f"{first}Phone them, and ask for a mobile or email for the roster"
        else:
            advice = "No number on record: ask at the school gate, then update the roster"
        views.append(
            UnreachableView(
                contact_name=row.get("contact_name", ""),
                student_name=row.get("student_name", ""),
                reason=reason,
                advice=advice,
                phone=readable_phone(phone),
                phone_href=f"tel:{phone}" if phone else "",
            )
        )
    return views


def _when(request: AnnouncementRequest, summary: PlanSummary, tz_name: str) -> str:
    tz = ZoneInfo(tz_name)
    if summary.hold_until is not None and summary.hold_until_local:
        why = f" ({summary.hold_reason})" if summary.hold_reason else ""
        return f"It waits until {summary.hold_until_local}{why}"
    if request.send_at is not None:
        return f"It goes on {local_time_in_words(request.send_at, tz)}"
    return "It goes as soon as you send it"


def build_preview(
    runtime: Runtime, session: Session, request: AnnouncementRequest, now: datetime
) -> PreviewView:
    """What ``request`` would send, for the preview partial: the dry-run plan of its whole
    audience at ``now`` (or at its ``send_at``), its messages in each language the audience
    reads and each format. Writes nothing but the school's row (made on first use). Raises
    ``TemplateError`` (or ``KeyError`` for an unknown school or category) as the plan does;
    callers validate the request first."""
    school = runtime.configuration.school(request.school)
    category = runtime.configuration.policy.category(request.category)
    moment = request.send_at if request.send_at is not None and request.send_at > now else now
    summary = preview_plan(
        runtime, session, school, category, list(request.audience), request.variables, moment
    )
    student_ids = [
        part.partition(":")[2] for part in request.audience if part.startswith("student:")
    ]
    names = {
        s.external_id: f"{s.first_name} {s.last_name}"
        for s in students_by_id(session, school.slug, student_ids)
    }
    messages = [
        (_CHANNEL_WORDS[channel], summary.deliveries.get(channel.value, 0))
        for channel in (Channel.SMS, Channel.PUSH, Channel.EMAIL)
        if summary.deliveries.get(channel.value, 0)
    ]
    fallbacks = [
        f"{language_name(tag)}: {n} (no {language_name(tag)} template; "
        f"they get {language_name(school.default_language)})"
        for tag, n in sorted(summary.fallen_back_languages.items())
    ]
    return PreviewView(
        school_name=school.name,
        category=category_name(category),
        category_description=category.description,
        audience=_audience_words(list(request.audience), names),
        families=summary.recipients,
        messages=messages,
        email_backups=summary.backups,
        total_messages=sum(summary.deliveries.values()),
        cost=_money(summary.estimated_cost_gbp),
        when=_when(request, summary, school.timezone),
        excluded=sum(summary.excluded.values()),
        unreachable=_unreachable(summary.unreachable),
        languages=_languages(runtime, request, summary, school.default_language),
        fallbacks=fallbacks,
    )
