"""Previews: what an announcement would do, before anything is stored or sent. Every template
the audience needs is rendered (a missing variable fails here, not at 7 a.m.), and the whole
audience is routed to count the contacts (parents and carers) apart from the messages they
would get, by language, with the languages that fell back named, the SMS segments and cost;
the texts and emails themselves are shown, one per language the audience reads, and the
families no channel can reach are listed, marked for the office (``phoning``). Writes
nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from dispatcher.audience import parse_audience
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel, MessageFormat
from dispatcher.planning.phoning import for_the_office
from dispatcher.planning.plan import _routed
from dispatcher.planning.school_days import school_days_for
from dispatcher.planning.windows import hold_reason, hold_until, local_time_in_words
from dispatcher.rendering.languages import language_name
from dispatcher.rendering.templates import RenderedMessage, TemplateLibrary, school_context
from dispatcher.runtime import Runtime
from dispatcher.store.audience import iter_audience_batches
from dispatcher.store.contacts import describe_contacts
from dispatcher.store.schools import ensure_school

#: Lines of an email's text shown in a dry run.
EMAIL_FIRST_LINES = 4


@dataclass(frozen=True)
class MessageSample:
    """What the families reading one language would get (with sample names)."""

    language: str
    sms: str | None = None
    sms_segments: int | None = None
    sms_encoding: str | None = None
    email_subject: str | None = None
    email_first_lines: tuple[str, ...] = ()
    push_title: str | None = None
    push_body: str | None = None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "language": self.language,
            "language_name": language_name(self.language),
            "sms": self.sms,
            "sms_segments": self.sms_segments,
            "sms_encoding": self.sms_encoding,
            "email_subject": self.email_subject,
            "email_first_lines": list(self.email_first_lines),
            "push_title": self.push_title,
            "push_body": self.push_body,
        }


@dataclass
class PlanSummary:
    """What a plan would do (dry run) or did: contacts apart from messages, languages, cost,
    the messages themselves, who cannot be reached."""

    announcement_id: int | None
    school: str
    category: str
    urgency: str
    audience: list[str]
    #: Contacts (parents and carers) who would get it.
    recipients: int = 0
    #: Those contacts by the language they would read.
    contact_languages: Counter[str] = field(default_factory=Counter)
    #: Messages per channel, and per language.
    deliveries: Counter[str] = field(default_factory=Counter)
    backups: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    #: Messages in the school's default language because the contact's has no template.
    language_fallbacks: int = 0
    #: Contacts whose language fell back, by the language they asked for.
    fallen_back_languages: Counter[str] = field(default_factory=Counter)
    excluded: Counter[str] = field(default_factory=Counter)
    unreachable: list[dict[str, str]] = field(default_factory=list)
    sms_segments: int = 0
    sms_encodings: dict[str, str] = field(default_factory=dict)
    samples: list[MessageSample] = field(default_factory=list)
    estimated_cost_gbp: Decimal = Decimal("0")
    hold_until: datetime | None = None
    #: Why it waits until ``hold_until`` (a bank holiday, a school holiday, the window).
    hold_reason: str | None = None
    #: ``hold_until`` in the school's time, as the office reads it.
    hold_until_local: str | None = None
    #: Every message rendered for the preview (each language, channel and format), for a
    #: page that shows them whole; not part of the JSON.
    rendered: list[RenderedMessage] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "announcement_id": self.announcement_id,
            "school": self.school,
            "category": self.category,
            "urgency": self.urgency,
            "audience": self.audience,
            "recipients": self.recipients,
            "contact_languages": dict(self.contact_languages),
            "messages": sum(self.deliveries.values()),
            "deliveries": dict(self.deliveries),
            "email_backups": self.backups,
            "languages": dict(self.languages),
            "language_fallbacks": self.language_fallbacks,
            "fallen_back_languages": {
                tag: {"name": language_name(tag), "contacts": n}
                for tag, n in sorted(self.fallen_back_languages.items())
            },
            "excluded": dict(self.excluded),
            "unreachable": self.unreachable,
            "sms_segments": self.sms_segments,
            "sms_encodings": self.sms_encodings,
            "samples": [sample.as_json() for sample in self.samples],
            "estimated_cost_gbp": str(self.estimated_cost_gbp.quantize(Decimal("0.01"))),
            "hold_until": self.hold_until.isoformat() if self.hold_until else None,
            "hold_until_local": self.hold_until_local,
            "hold_reason": self.hold_reason,
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
    previews = preview_templates(runtime.templates, school, category, variables)
    standard_sms = [
        p
        for p in previews
        if p.channel is Channel.SMS and p.sms and p.format is MessageFormat.STANDARD
    ]
    sms_segments_by_language = {p.language: p.sms.segments for p in standard_sms if p.sms}
    summary = PlanSummary(None, school.slug, category.name, category.urgency.value, list(audience))
    summary.rendered = previews
    school_days = school_days_for(runtime.configuration, school.slug)
    summary.hold_until = hold_until(category, school, now, school_days)
    if summary.hold_until is not None:
        summary.hold_reason = hold_reason(category, school, now, summary.hold_until, school_days)
        summary.hold_until_local = local_time_in_words(summary.hold_until, school.tz)
    school_row = ensure_school(session, school)
    selectors = parse_audience(audience)
    unreachable_ids: list[tuple[int, int | None, str]] = []
    texted: set[str] = set()
    for batch in iter_audience_batches(
        session,
        school_row.id,
        selectors,
        after_contact_id=0,
        batch_size=runtime.settings.plan_batch_size,
    ):
        for contact, decision in _routed(runtime, category, school, batch):
            if decision.excluded_reason:
                summary.excluded[decision.excluded_reason] += 1
                continue
            if decision.unreachable_reason:
                unreachable_ids.append(
                    (decision.contact_id, decision.student_id, decision.unreachable_reason)
                )
                continue
            summary.recipients += 1
            first = decision.deliveries[0]
            summary.contact_languages[first.language] += 1
            if first.language_fallback:
                asked = (contact.profile.language or "").lower() or "unknown"
                summary.fallen_back_languages[asked] += 1
            for planned in decision.deliveries:
                summary.deliveries[planned.channel.value] += 1
                if planned.kind.value == "backup":
                    summary.backups += 1
                summary.languages[planned.language] += 1
                summary.language_fallbacks += int(planned.language_fallback)
                if planned.channel is Channel.SMS:
                    texted.add(planned.language)
                    summary.sms_segments += sms_segments_by_language.get(planned.language, 1)
    summary.sms_encodings = {
        p.language: p.sms.encoding for p in standard_sms if p.sms and p.language in texted
    }
    summary.samples = message_samples(previews, set(summary.languages) or {school.default_language})
    pricing = runtime.configuration.policy.pricing
    summary.estimated_cost_gbp = (
        pricing.sms_segment_gbp * summary.sms_segments
        + pricing.email_gbp * summary.deliveries.get("email", 0)
        + pricing.push_gbp * summary.deliveries.get("push", 0)
    )
    summary.unreachable = for_the_office(describe_contacts(session, unreachable_ids))
    return summary


def message_samples(previews: list[RenderedMessage], languages: set[str]) -> list[MessageSample]:
    """One sample per language of ``languages`` that ``previews`` rendered: the standard
    text, the email's subject and first lines, the push title and body."""
    by_language: dict[str, dict[Channel, RenderedMessage]] = {}
    for message in previews:
        if message.format is MessageFormat.STANDARD and message.language in languages:
            by_language.setdefault(message.language, {})[message.channel] = message
    samples = []
    for language, messages in sorted(by_language.items()):
        sms, email, push = (messages.get(c) for c in (Channel.SMS, Channel.EMAIL, Channel.PUSH))
        lines = [line.strip() for line in email.body.splitlines() if line.strip()] if email else []
        samples.append(
            MessageSample(
                language=language,
                sms=sms.body if sms else None,
                sms_segments=sms.sms.segments if sms and sms.sms else None,
                sms_encoding=sms.sms.encoding if sms and sms.sms else None,
                email_subject=email.subject if email else None,
                email_first_lines=tuple(lines[:EMAIL_FIRST_LINES]),
                push_title=push.title if push else None,
                push_body=push.body if push else None,
            )
        )
    return samples


def sample_context(school: SchoolConfig, variables: dict[str, str]) -> dict[str, Any]:
    """Template context for previews: the request's variables plus sample per-family fields."""
    return {
        **variables,
        "school": school_context(school),
        "contact": {"first_name": "Sam"},
        "students": ["Alex"],
    }


def preview_templates(
    templates: TemplateLibrary,
    school: SchoolConfig,
    category: CategoryPolicy,
    variables: dict[str, str],
) -> list[RenderedMessage]:
    """Render every language and channel the school may use for the category; raise
    ``TemplateError`` naming the variable or template at fault."""
    languages = sorted(templates.languages(category.name) & set(school.languages)) or [
        school.default_language
    ]
    channels: list[Channel] = list(school.channels_for(category))
    if category.email_backup and Channel.EMAIL not in channels:
        channels.append(Channel.EMAIL)
    return templates.preview(
        category.name,
        languages,
        channels,
        sample_context(school, variables),
        category.max_sms_segments,
    )
