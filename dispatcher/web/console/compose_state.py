"""The compose flow's state between its pages: what has been chosen so far, carried in the
query string and in hidden fields (no draft is stored), read back and checked step by step.

``Draft`` holds what staff typed, as they typed it (a date as the picker gives it), so that
going back to a step shows it again; ``checked_details`` turns it into the variables the
templates get and the time it is sent. Pure apart from rendering templates to catch their
errors (``check_templates``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from dispatcher.audience import AudienceError, parse_selector
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.planning.preview import preview_templates
from dispatcher.rendering.templates import (
    MissingVariable,
    SmsTooLong,
    TemplateError,
    TemplateLibrary,
    UnsafeLink,
)
from dispatcher.web.console.compose_words import VariableField, field_value

#: The furthest ahead a send may be scheduled (the API's limit).
MAX_SCHEDULE_AHEAD = timedelta(days=365)
#: The most audience parts a draft keeps (the API's limit on its list is larger; a form
#: with more is not one a person ticked).
MAX_AUDIENCE = 500
#: Ids of the fields whose errors are not about one variable.
AUDIENCE_FIELD = "audience"
WHEN_FIELD = "when"
SEND_DATE_FIELD = "send-date"
SEND_TIME_FIELD = "send-time"
_VARIABLE_PREFIX = "var-"

Errors = list[tuple[str, str]]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: object, limit: int = 1000) -> str:
    """``value`` as one line of text: control characters (a NUL, which PostgreSQL refuses,
    line breaks) dropped, at most ``limit`` characters; ``""`` when it is not text. For the
    draft's names and ids (school, category, audience), which are looked up, not kept."""
    return _CONTROL.sub("", value)[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class Draft:
    """An announcement being composed, as typed so far."""

    school: str = ""
    category: str = ""
    audience: tuple[str, ...] = ()
    #: What was typed for each template variable, by variable name.
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: "now" or "later".
    when: str = "now"
    send_date: str = ""
    send_time: str = ""

    def pairs(self, *, details: bool = True) -> list[tuple[str, str]]:
        """The draft as name/value pairs (for hidden fields and links); without the
        details step's fields when ``details`` is False."""
        pairs = [("school", self.school), ("category", self.category)]
        pairs += [("audience", part) for part in self.audience]
        if details:
            pairs += [(f"{_VARIABLE_PREFIX}{k}", v) for k, v in sorted(self.inputs.items())]
            pairs += [("when", self.when)]
            if self.when == "later":
                pairs += [("send-date", self.send_date), ("send-time", self.send_time)]
        return [(name, value) for name, value in pairs if value]

    def url(self, path: str, *, details: bool = True) -> str:
        """``path`` with the draft in its query string."""
        query = urlencode(self.pairs(details=details))
        return f"{path}?{query}" if query else path


def read_draft(items: Iterable[tuple[str, object]]) -> Draft:
    """The draft a query string or form carries (``multi_items()``): unknown names are
    ignored, every value is cut to a sane length."""
    values: dict[str, str] = {}
    audience: list[str] = []
    inputs: dict[str, str] = {}
    for name, value in items:
        if name == "audience":
            audience.append(clean_text(value, 120).strip())
        elif name.startswith(_VARIABLE_PREFIX):
            # As typed (cut to length): a control character in it is refused by name when
            # the details are checked (``plain_text``), not silently dropped.
            typed = value[:1000] if isinstance(value, str) else ""
            inputs[clean_text(name.removeprefix(_VARIABLE_PREFIX), 64)] = typed
        else:
            values.setdefault(name, clean_text(value, 64))
    return Draft(
        school=values.get("school", ""),
        category=values.get("category", ""),
        audience=tuple(dict.fromkeys(a for a in audience if a))[:MAX_AUDIENCE],
        inputs={k: v for k, v in inputs.items() if v},
        when="later" if values.get("when") == "later" else "now",
        send_date=values.get("send-date", "")[:20],
        send_time=values.get("send-time", "")[:20],
    )


def audience_problem(draft: Draft) -> str | None:
    """Why the draft's audience cannot be used, or None."""
    if not draft.audience:
        return "Choose who gets it: the whole school, a year, a class, a group or a student"
    for part in draft.audience:
        try:
            parse_selector(part)
        except AudienceError:
            return "Choose who gets it from the lists on this page"
    return None


@dataclass(frozen=True)
class CheckedDetails:
    """The details step once it is right: the variables the templates get, and when it
    goes (None: at once)."""

    variables: dict[str, str]
    send_at: datetime | None


def _send_at(draft: Draft, tz: ZoneInfo, now: datetime, errors: Errors) -> datetime | None:
    if draft.when != "later":
        return None
    day: date | None = None
    at: time | None = None
    try:
        day = date.fromisoformat(draft.send_date.strip())
    except ValueError:
        errors.append((SEND_DATE_FIELD, "Enter the date to send it, for example 2026-11-24"))
    try:
        at = time.fromisoformat(draft.send_time.strip())
    except ValueError:
        errors.append((SEND_TIME_FIELD, "Enter the time to send it, for example 07:00"))
    if day is None or at is None:
        return None
    send_at = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
    if send_at <= now:
        errors.append((SEND_DATE_FIELD, "The time to send it must be in the future"))
    elif send_at - now > MAX_SCHEDULE_AHEAD:
        errors.append((SEND_DATE_FIELD, "The time to send it must be within a year"))
    return send_at


def checked_details(
    draft: Draft, fields: list[VariableField], tz: ZoneInfo, now: datetime
) -> tuple[CheckedDetails | None, Errors]:
    """The variables and send time of ``draft``'s details, or the errors (field id,
    message) that name what to fix; ``tz`` is the school's time zone (a scheduled date
    and time are the school's)."""
    errors: Errors = []
    variables: dict[str, str] = {}
    for variable in fields:
        value, problem = field_value(variable, draft.inputs.get(variable.name, ""))
        if problem is not None:
            errors.append((variable.id, problem))
        elif value is not None:
            variables[variable.name] = value
    send_at = _send_at(draft, tz, now, errors)
    if errors:
        return None, errors
    return CheckedDetails(variables, send_at), []


def check_templates(
    templates: TemplateLibrary,
    school: SchoolConfig,
    category: CategoryPolicy,
    variables: dict[str, str],
    fields: list[VariableField],
) -> Errors:
    """Render every message the category may send with ``variables``; the problems found,
    each on the field at fault (a missing variable, a link, a text too long)."""
    ids = {f.name: f.id for f in fields}
    first = fields[0].id if fields else AUDIENCE_FIELD
    try:
        preview_templates(templates, school, category, variables)
    except MissingVariable as exc:
        return [(ids.get(exc.variable, first), f"Enter {exc.variable.replace('_', ' ')}")]
    except UnsafeLink as exc:
        where = ids.get(exc.variable or "", first)
        return [(where, "Links must start with https://")]
    except SmsTooLong as exc:
        return [
            (
                first,
                f"The text message would take {exc.segments} parts and this category allows "
                f"{exc.limit}: make the details shorter",
            )
        ]
    except TemplateError as exc:
        return [(first, f"The message cannot be written: {exc}")]
    return []
