"""What ``dispatcher doctor`` found: one ``Finding`` per check (and school), each ``ok``, a
``note`` (true and worth knowing, not in the way: a school on the outbox, a translation that
falls back to English) or a ``problem`` (something a school would trip over: held messages, a
missing secret, no calendar, no worker). The set-up passes when there is no problem (with
``strict``, no note either)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    """How much a finding matters."""

    OK = "ok"
    NOTE = "note"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    """One check's result: which check, for which school (None: the whole deployment), how
    much it matters and, in plain words, what was found and what to do."""

    check: str
    level: Level
    message: str
    school: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return {
            "check": self.check,
            "school": self.school,
            "level": self.level.value,
            "message": self.message,
        }


def ok(check: str, message: str, school: str | None = None) -> Finding:
    """A check that holds."""
    return Finding(check, Level.OK, message, school)


def note(check: str, message: str, school: str | None = None) -> Finding:
    """A check that holds, with something worth knowing."""
    return Finding(check, Level.NOTE, message, school)


def problem(check: str, message: str, school: str | None = None) -> Finding:
    """A check that does not hold."""
    return Finding(check, Level.PROBLEM, message, school)


@dataclass(frozen=True)
class DoctorReport:
    """Every finding, the deployment's first, then each school's."""

    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> DoctorReport:
        """A report of ``findings`` in the order given."""
        return cls(list(findings))

    def count(self, level: Level) -> int:
        """How many findings are at ``level``."""
        return sum(1 for f in self.findings if f.level is level)

    def passed(self, strict: bool = False) -> bool:
        """No problem (and, when ``strict``, no note either)."""
        failing = {Level.PROBLEM, Level.NOTE} if strict else {Level.PROBLEM}
        return not any(f.level in failing for f in self.findings)

    def schools(self) -> list[str]:
        """The schools with findings, in order."""
        return list(dict.fromkeys(f.school for f in self.findings if f.school is not None))

    def as_json(self, strict: bool = False) -> dict[str, Any]:
        """``{"passed": ..., "problems": n, "notes": n, "findings": [...]}``."""
        return {
            "passed": self.passed(strict),
            "strict": strict,
            "problems": self.count(Level.PROBLEM),
            "notes": self.count(Level.NOTE),
            "findings": [f.as_json() for f in self.findings],
        }
