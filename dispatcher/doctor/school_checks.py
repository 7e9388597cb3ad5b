"""The checks of one school's set-up, before it goes live: providers and their credentials,
webhook secrets, the SMS sender id, its addresses, its templates and its calendar. Pure: the
caller gathers the facts (``SchoolFacts``: the school's file, the provider settings, which
templates exist, the calendar, whether the MIS secret is set, today's date); nothing here
reads a file, the environment or the clock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from urllib.parse import urlparse

from dispatcher.channels.selection import OUTBOX_NOTE, Route, school_choices
from dispatcher.channels.settings import ProviderSettings
from dispatcher.config.calendars import SchoolCalendar
from dispatcher.config.schools import SchoolConfig
from dispatcher.doctor.findings import Finding, note, ok, problem
from dispatcher.domain import Channel

#: Domains reserved for examples and tests (RFC 2606, RFC 6761): mail to them goes nowhere.
RESERVED_SUFFIXES: Final = (".invalid", ".example", ".test", ".localhost", ".local")
EXAMPLE_DOMAINS: Final = ("example.com", "example.net", "example.org")
#: A UK alphanumeric sender id: letters, digits and spaces, at most 11, not only digits.
_SENDER_ID: Final = re.compile(r"[A-Za-z0-9 ]{1,11}")


@dataclass(frozen=True)
class SchoolFacts:
    """What the checks of one school read."""

    school: SchoolConfig
    #: The policy's categories, in order.
    categories: tuple[str, ...]
    #: For each category, the languages with a complete set of templates.
    template_languages: Mapping[str, frozenset[str]]
    #: The school's calendar, or None when it has none.
    calendar: SchoolCalendar | None
    providers: ProviderSettings
    #: The name of the MIS secret's variable and whether it is set.
    mis_secret_variable: str
    mis_secret_set: bool
    today: date


def check_school(facts: SchoolFacts) -> list[Finding]:
    """Every check of one school, in the order an IT lead would fix them."""
    return [
        *check_providers(facts),
        *check_webhooks(facts),
        *check_sender_id(facts),
        *check_addresses(facts),
        *check_templates(facts),
        check_calendar(facts),
    ]


def _sends_nothing(facts: SchoolFacts) -> bool:
    """Every channel of the school goes to the outbox: no family hears from it."""
    return all(c.route is Route.OUTBOX for c in school_choices(facts.school, facts.providers))


def check_providers(facts: SchoolFacts) -> list[Finding]:
    """Each enabled channel: sent through the provider the school names (ok), held because
    that provider's credentials are not set (problem), or written to the outbox (note)."""
    slug = facts.school.slug
    findings: list[Finding] = []
    for choice in school_choices(facts.school, facts.providers):
        if choice.route is Route.PROVIDER:
            findings.append(ok("providers", choice.describe(), slug))
        elif choice.route is Route.HELD:
            findings.append(problem("providers", choice.describe(), slug))
        else:
            findings.append(note("providers", choice.describe(), slug))
    if not findings:
        findings.append(problem("providers", "no channel is enabled (channels_enabled)", slug))
    return findings


def check_webhooks(facts: SchoolFacts) -> list[Finding]:
    """What the providers and the MIS need to call back: the public base URL (Twilio's
    status reports and replies), SendGrid's event webhook key, the school's MIS secret."""
    slug = facts.school.slug
    settings = facts.providers
    routes = {c.channel: c.route for c in school_choices(facts.school, settings)}
    findings: list[Finding] = []
    through_provider = [c for c, route in routes.items() if route is Route.PROVIDER]
    if through_provider:
        base = settings.public_base_url
        if not base:
            findings.append(
                problem(
                    "webhooks",
                    "DISPATCHER_PUBLIC_BASE_URL is not set: the providers cannot report what "
                    "became of a message (delivered, failed) nor pass on replies and STOPs",
                    slug,
                )
            )
        elif not base.startswith("https://"):
            findings.append(
                problem(
                    "webhooks",
                    f"DISPATCHER_PUBLIC_BASE_URL is {base}: providers must reach it over https",
                    slug,
                )
            )
        elif _placeholder_host(urlparse(base).hostname or ""):
            findings.append(
                problem(
                    "webhooks",
                    f"DISPATCHER_PUBLIC_BASE_URL is {base}, a reserved example address that "
                    "no provider can reach",
                    slug,
                )
            )
        else:
            findings.append(ok("webhooks", f"providers call back at {base}", slug))
    if routes.get(Channel.EMAIL) is Route.PROVIDER:
        if settings.sendgrid_webhook_public_key:
            findings.append(ok("webhooks", "SendGrid's signed event webhook can be verified", slug))
        else:
            findings.append(
                problem(
                    "webhooks",
                    "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: SendGrid's bounces and opens are "
                    "refused, so a bounced email never falls back to a text",
                    slug,
                )
            )
    mis = facts.school.mis
    if not mis:
        findings.append(ok("webhooks", "no MIS sends events (mis is empty)", slug))
    elif facts.mis_secret_set:
        findings.append(ok("webhooks", f"the {mis} MIS webhook has its secret", slug))
    else:
        findings.append(
            problem(
                "webhooks",
                f"{facts.mis_secret_variable} is not set: every event from {mis} "
                "(payments due, changed numbers) is refused",
                slug,
            )
        )
    return findings


def sender_id_problem(sender_id: str) -> str | None:
    """Why ``sender_id`` cannot be a UK alphanumeric SMS sender, or None when it can."""
    if not _SENDER_ID.fullmatch(sender_id):
        return "use letters, digits and spaces only, at most 11 characters"
    if sender_id.strip().isdigit() or not sender_id.strip():
        return "it needs at least one letter (a number-only sender is refused)"
    return None


def check_sender_id(facts: SchoolFacts) -> list[Finding]:
    """The SMS sender id, where the school sends texts."""
    school = facts.school
    if Channel.SMS not in school.channels_enabled:
        return []
    why = sender_id_problem(school.sender_id)
    if why is None:
        return [ok("sender id", f"texts come from {school.sender_id!r}", school.slug)]
    return [problem("sender id", f"sender_id {school.sender_id!r}: {why}", school.slug)]


def _placeholder_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if not host:
        return False
    return host.endswith(RESERVED_SUFFIXES) or any(
        host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS
    )


def placeholder_addresses(school: SchoolConfig) -> list[str]:
    """The school's addresses on reserved example domains (``.invalid``, ``.example``,
    ``example.com``...), as ``field = value``."""
    found = []
    for field_name in ("from_email", "reply_to"):
        value = str(getattr(school, field_name))
        if value and _placeholder_host(value.rpartition("@")[2]):
            found.append(f"{field_name} = {value}")
    if school.website and _placeholder_host(urlparse(school.website).hostname or ""):
        found.append(f"website = {school.website}")
    return found


def check_addresses(facts: SchoolFacts) -> list[Finding]:
    """No placeholder address (a problem once families hear from the school; a note while
    every message goes to the outbox); a sender address where emails go; a phone and
    reply-to address worth having."""
    school, slug = facts.school, facts.school.slug
    findings: list[Finding] = []
    placeholders = placeholder_addresses(school)
    if placeholders and _sends_nothing(facts):
        findings.append(
            note(
                "addresses",
                f"placeholder addresses ({'; '.join(placeholders)}): fine while every message "
                f"is {OUTBOX_NOTE}; replace them before going live",
                slug,
            )
        )
    elif placeholders:
        findings.append(
            problem(
                "addresses",
                f"placeholder addresses families would see or write to: {'; '.join(placeholders)}"
                f" (config/schools/{slug}.toml)",
                slug,
            )
        )
    if Channel.EMAIL in school.channels_enabled and not school.from_email:
        findings.append(problem("addresses", "from_email is empty: emails cannot be sent", slug))
    if not school.reply_to:
        findings.append(
            note("addresses", "reply_to is empty: families cannot reply by email", slug)
        )
    if not school.phone:
        findings.append(note("addresses", "phone is empty: messages give no number to ring", slug))
    if not placeholders and school.from_email:
        findings.append(ok("addresses", f"emails come from {school.from_email}", slug))
    return findings


def check_templates(facts: SchoolFacts) -> list[Finding]:
    """Every category has complete templates in the school's default language (a problem:
    it could not be sent), and in each of its other languages (a note: families who asked
    for that language get the default one)."""
    school, slug = facts.school, facts.school.slug
    findings: list[Finding] = []
    default = school.default_language
    unsendable = [c for c in facts.categories if default not in facts.template_languages.get(c, ())]
    if unsendable:
        findings.append(
            problem(
                "templates",
                f"no complete {default!r} templates for {', '.join(unsendable)}: these "
                "categories cannot be sent",
                slug,
            )
        )
    for language in school.languages:
        if language == default:
            continue
        missing = [
            c for c in facts.categories if language not in facts.template_languages.get(c, ())
        ]
        if missing:
            findings.append(
                note(
                    "templates",
                    f"{language!r}: no templates for {len(missing)} of {len(facts.categories)} "
                    f"categories ({', '.join(missing)}); families who asked for {language!r} "
                    f"get them in {default!r}",
                    slug,
                )
            )
    if not findings:
        findings.append(
            ok(
                "templates",
                f"every category in {', '.join(school.languages)}",
                slug,
            )
        )
    elif not unsendable:
        findings.append(ok("templates", f"every category in {default!r}", slug))
    return findings


def academic_year_start(day: date) -> date:
    """1 September of the academic year ``day`` falls in."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def calendar_span(calendar: SchoolCalendar) -> tuple[date, date]:
    """The days the calendar accounts for: from 1 September of its first term's academic
    year to 31 August of its last term's (the summer holiday belongs to the year before)."""
    start = academic_year_start(calendar.first_day)
    last_year = academic_year_start(calendar.last_day)
    return start, date(last_year.year + 1, 8, 31)


def year_ahead(today: date) -> date:
    """The last day of the next 12 months from ``today``."""
    try:
        same_day = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        same_day = date(today.year + 1, 3, 1)
    return same_day - timedelta(days=1)


def check_calendar(facts: SchoolFacts) -> Finding:
    """The school has a calendar covering the next 12 months (term dates, holidays)."""
    slug = facts.school.slug
    calendar = facts.calendar
    if calendar is None:
        return problem(
            "calendar",
            f"no calendar (config/calendars/{slug}.toml): no term-date or event reminders, and "
            "the school's holidays are unknown",
            slug,
        )
    start, end = calendar_span(calendar)
    until = year_ahead(facts.today)
    if start > facts.today or end < until:
        return problem(
            "calendar",
            f"the calendar covers {start.isoformat()} to {end.isoformat()}, but the next 12 "
            f"months run from {facts.today.isoformat()} to {until.isoformat()}: add the "
            "missing academic year's terms",
            slug,
        )
    return ok(
        "calendar",
        f"covers {start.isoformat()} to {end.isoformat()} ({len(calendar.terms)} terms)",
        slug,
    )
