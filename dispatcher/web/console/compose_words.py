"""The compose flow's words and fields, as pure functions: how a category says which
channels it uses and whether it waits for the send window, which form field each template
variable gets, and how what staff type (a date picker's ``2026-11-24``, an amount, a time)
becomes the words the templates expect ("Tuesday 24 November", "£12.50", "3:30pm").

No I/O except reading the category's template files through the ``TemplateLibrary``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel, MessageFormat
from dispatcher.plain_text import plain_text_problem
from dispatcher.rendering.links import is_link_variable, link_problem
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.triggers.reminders.rules import long_date, short_time


class FieldKind(StrEnum):
    """What kind of input a template variable gets."""

    DATE = "date"
    TIME = "time"
    AMOUNT = "amount"
    LINK = "link"
    TEXT = "text"


#: Variables the shipped templates read as a day although the name does not end in
#: ``_date`` ("We plan to reopen on {{ reopening }}", "reply by {{ reply_by }}").
DAY_VARIABLES: Final = frozenset({"date", "reopening", "reply_by", "closes"})
#: Variables the templates print as money ("Please pay {{ amount }}").
AMOUNT_VARIABLES: Final = frozenset({"amount", "cost"})
#: Variables read as a time of day ("at {{ time }}").
TIME_VARIABLES: Final = frozenset({"time"})

#: Labels in the office's words for the shipped templates' variables; others are made
#: from the name ("details_url" -> "Details url").
LABELS: Final[Mapping[str, str]] = {
    "date": "Date",
    "reason": "Reason",
    "reopening": "Date the school reopens",
    "details_url": "Link to more details",
    "change": "What changes",
    "amount": "Amount to pay",
    "item": "What it pays for",
    "due_date": "Date it is due",
    "payment_link": "Payment link",
    "trip": "Trip or visit",
    "letter_url": "Link to the letter",
    "cost": "Cost",
    "reply_by": "Reply by",
    "activity": "What the consent is for",
    "form_url": "Link to the form",
    "event": "Event",
    "time": "Time",
    "details": "Details",
    "title": "Title",
    "url": "Link",
    "closes": "Closes on",
}

_KIND_ORDER: Final = {
    FieldKind.DATE: 0,
    FieldKind.TIME: 1,
    FieldKind.TEXT: 2,
    FieldKind.AMOUNT: 3,
    FieldKind.LINK: 4,
}
_AMOUNT: Final = re.compile(r"£?\s*([0-9]+(?:\.[0-9]{1,2})?)")

_CHANNEL_NAMES: Final[Mapping[Channel, str]] = {
    Channel.SMS: "text message",
    Channel.PUSH: "app",
    Channel.EMAIL: "email",
}
FORMAT_NAMES: Final[Mapping[MessageFormat, str]] = {
    MessageFormat.STANDARD: "Standard",
    MessageFormat.LARGE_PRINT: "Large print",
    MessageFormat.EASY_READ: "Easy read",
}


@dataclass(frozen=True)
class VariableField:
    """One input of the details form: the template variable it fills and how."""

    name: str
    label: str
    kind: FieldKind
    required: bool

    @property
    def id(self) -> str:
        """The input's id and name in the form (``var-<name>``)."""
        return f"var-{self.name}"

    @property
    def hint(self) -> str:
        """What the input asks for, in plain words ("" for plain text; the label says
        whether it is optional)."""
        if self.kind is FieldKind.DATE:
            return "Families read it as, for example, Tuesday 24 November."
        if self.kind is FieldKind.TIME:
            return "Families read it as, for example, 3:30pm."
        if self.kind is FieldKind.AMOUNT:
            return "In pounds, for example 12.50."
        if self.kind is FieldKind.LINK:
            return "A full address starting with https://"
        return ""


def field_kind(name: str) -> FieldKind:
    """The input a variable called ``name`` gets: a date picker for ``date``, ``*_date``
    and ``DAY_VARIABLES``, a time for ``time``, a number for amounts, a URL for link
    variables (``rendering.links.is_link_variable``), text otherwise."""
    if is_link_variable(name):
        return FieldKind.LINK
    if name in DAY_VARIABLES or name.endswith("_date"):
        return FieldKind.DATE
    if name in TIME_VARIABLES:
        return FieldKind.TIME
    if name in AMOUNT_VARIABLES:
        return FieldKind.AMOUNT
    return FieldKind.TEXT


def label_of(name: str) -> str:
    """The label of ``name``'s input."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def variable_fields(
    templates: TemplateLibrary, category: str, languages: Iterable[str]
) -> list[VariableField]:
    """The inputs the details form needs for ``category`` in ``languages``: every variable
    its templates read (per-family and school names excluded: ``PROVIDED_NAMES``), those
    some template needs marked required; required first, then by kind (dates first), then
    by name. Raises ``TemplateError`` if a template file is missing."""
    required: set[str] = set()
    every: set[str] = set()
    for language in languages:
        needed = templates.required_variables(category, language)
        required |= needed
        every |= needed | templates.optional_variables(category, language)
    fields = [
        VariableField(name, label_of(name), field_kind(name), name in required) for name in every
    ]
    return sorted(fields, key=lambda f: (not f.required, _KIND_ORDER[f.kind], f.name))


def date_words(day: date) -> str:
    """``Tuesday 24 November``: a day as every shipped template says it (the reminders' and
    the demo's format)."""
    return long_date(day)


def amount_words(amount: Decimal) -> str:
    """``£12.50``."""
    return f"£{amount.quantize(Decimal('0.01')):,}"


def field_value(field: VariableField, typed: str) -> tuple[str | None, str | None]:
    """What the templates get for ``typed`` in ``field``, as ``(value, problem)``: the value
    in words (None when left empty), or a problem in words naming the field."""
    text = typed.strip()
    if not text:
        return None, (f"Enter {field.label.lower()}" if field.required else None)
    problem = plain_text_problem(text, line_breaks=False)
    if problem is not None:
        return None, f"{field.label} {problem}"
    if field.kind is FieldKind.DATE:
        try:
            return date_words(date.fromisoformat(text)), None
        except ValueError:
            return None, f"{field.label} must be a real date, for example 2026-11-24"
    if field.kind is FieldKind.TIME:
        try:
            return short_time(time.fromisoformat(text)), None
        except ValueError:
            return None, f"{field.label} must be a time, for example 15:30"
    if field.kind is FieldKind.AMOUNT:
        match = _AMOUNT.fullmatch(text.replace(",", ""))
        try:
            amount = Decimal(match.group(1)) if match else None
        except InvalidOperation:
            amount = None
        if amount is None or amount <= 0:
            return None, f"{field.label} must be an amount in pounds, for example 12.50"
        return amount_words(amount), None
    if field.kind is FieldKind.LINK:
        problem = link_problem(text)
        if problem is not None:
            return None, f"{field.label} must start with https:// ({problem})"
        return text, None
    if len(text) > 500:
        return None, f"{field.label} must be 500 characters or fewer"
    return text, None


def channels_in_words(school: SchoolConfig, category: CategoryPolicy) -> str:
    """The channels ``category`` uses at ``school`` in order, e.g. "Text message, then app,
    then email; an email copy as back-up"."""
    channels = list(school.channels_for(category))
    if not channels:
        return "No channel: this school has none of the channels this category uses"
    words = ", then ".join(_CHANNEL_NAMES[c] for c in channels)
    words = words[0].upper() + words[1:]
    if category.email_backup and channels[0] is not Channel.EMAIL:
        words += "; an email copy as back-up"
    return words


def send_window_words(school: SchoolConfig, category: CategoryPolicy) -> str:
    """Whether ``category`` waits for ``school``'s send window, in words."""
    if not category.send_window_applies:
        return "Goes at once, day or night"
    window = school.send_window
    hours = f"{window.start:%H:%M} to {window.end:%H:%M}"
    if not category.school_holidays_apply:
        return f"Waits for school hours ({hours}) on weekdays, holidays included"
    return f"Waits for school hours ({hours}) on school days"


def year_words(year: int) -> str:
    """``Year 6``; ``Reception`` for year 0, ``Nursery`` for year -1."""
    return {0: "Reception", -1: "Nursery"}.get(year, f"Year {year}")


def category_name(category: CategoryPolicy) -> str:
    """The category's name as a heading: ``emergency_closure`` -> "Emergency closure"."""
    return category.name.replace("_", " ").capitalize()
