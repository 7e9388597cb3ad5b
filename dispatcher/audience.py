"""Audience specifications: who an announcement is for. Pure parsing, no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AudienceKind = Literal["school", "year", "class", "group", "student"]
_KINDS_WITH_VALUE = ("year", "class", "group", "student")


class AudienceError(ValueError):
    """An audience specification cannot be understood; the message quotes it."""


@dataclass(frozen=True)
class AudienceSelector:
    """One part of an audience: the whole school, a year group, a class, a group or a student."""

    kind: AudienceKind
    value: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "school" else f"{self.kind}:{self.value}"


def parse_selector(spec: str) -> AudienceSelector:
    """Parse ``school``, ``year:6``, ``class:6B``, ``group:trip-paris`` or ``student:ID``."""
    text = spec.strip()
    if text == "school":
        return AudienceSelector("school")
    kind, sep, value = text.partition(":")
    value = value.strip()
    if not sep or kind not in _KINDS_WITH_VALUE or not value:
        raise AudienceError(
            f"audience {spec!r}: expected school, year:N, class:NAME, group:NAME or student:ID"
        )
    if kind == "year":
        year = {"R": "0", "N": "-1"}.get(value.upper(), value)
        try:
            number = int(year)
        except ValueError:
            raise AudienceError(f"audience {spec!r}: year must be a number, R or N") from None
        if not -1 <= number <= 14:
            raise AudienceError(f"audience {spec!r}: year must be between N (-1) and 14")
        value = str(number)
    return AudienceSelector(kind, value)  # type: ignore[arg-type]


def parse_audience(specs: list[str]) -> tuple[AudienceSelector, ...]:
    """Parse several specifications; duplicates collapse; at least one is required."""
    if not specs:
        raise AudienceError("audience: give at least one, e.g. --audience school")
    selectors: dict[AudienceSelector, None] = {}
    for spec in specs:
        selectors[parse_selector(spec)] = None
    return tuple(selectors)


def is_whole_school(selectors: tuple[AudienceSelector, ...]) -> bool:
    """True when the audience includes the whole school."""
    return any(s.kind == "school" for s in selectors)
