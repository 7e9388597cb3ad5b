"""The reminder rules (``config/reminders.toml``): which calendar entries get a reminder, how
many days before, in which category, and the clock's catch-up bounds."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from dispatcher.config.files import ConfigError, StrictModel, first_error, read_toml

ReminderSubject = Literal["event", "term_start", "training_day"]
ShiftTo = Literal["school_day", "weekday"]


@dataclass(frozen=True)
class ReminderRule:
    """When a kind of calendar entry gets a reminder, and in which category.

    Exactly one of ``days_before`` (calendar days), ``school_days_before`` or
    ``last_friday_of_holiday`` says when. ``shift_to`` says which days the reminder may land
    on: ``school_day`` (weekends, bank holidays and school holidays move it to the previous
    school day) or ``weekday`` (only weekends and bank holidays move it: for reminders that
    belong in a holiday, such as the one before a term starts).
    """

    name: str
    applies_to: ReminderSubject
    category: str
    days_before: int | None = None
    school_days_before: int | None = None
    last_friday_of_holiday: bool = False
    send_time: time | None = None
    shift_to: ShiftTo = "school_day"

    @property
    def lead_days(self) -> int:
        """Nominal notice in days (for choosing between two reminders on the same day)."""
        if self.days_before is not None:
            return self.days_before
        if self.school_days_before is not None:
            return self.school_days_before
        return 3


@dataclass(frozen=True)
class ReminderSettings:
    """The reminder rules and the clock's catch-up bounds (``config/reminders.toml``)."""

    rules: tuple[ReminderRule, ...]
    send_time: time = time(9, 0)
    catch_up: timedelta = timedelta(hours=24)
    missed_lookback: timedelta = timedelta(days=14)
    tick_seconds: float = 30.0
    lock_timeout_seconds: float = 120.0
    half_term_returns: bool = True


REMINDER_CATEGORIES = ("event_reminder", "term_dates")


class _RuleFile(StrictModel):
    applies_to: Literal["event", "term_start", "training_day"]
    category: Literal["event_reminder", "term_dates"]
    days_before: int | None = Field(default=None, ge=0, le=90)
    school_days_before: int | None = Field(default=None, ge=1, le=30)
    last_friday_of_holiday: bool = False
    send_time: dt.time | None = None
    shift_to: Literal["school_day", "weekday"] = "school_day"


class _ClockFile(StrictModel):
    tick_seconds: float = Field(default=30.0, gt=0, le=3600)
    lock_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    catch_up_hours: float = Field(default=24.0, ge=0, le=72)
    missed_lookback_days: int = Field(default=14, ge=1, le=60)


class _RemindersFile(StrictModel):
    send_time: dt.time = dt.time(9, 0)
    half_term_returns: bool = True
    clock: _ClockFile = _ClockFile()
    rules: dict[str, _RuleFile] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _rule_names(cls, rules: dict[str, _RuleFile]) -> dict[str, _RuleFile]:
        for name in rules:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
                raise ValueError(f"{name}: rule names are lower-case letters, digits and dashes")
        return rules


def parse_reminder_settings(path: Path, raw: dict[str, Any]) -> ReminderSettings:
    """Check reminder rules read from ``path``; each rule says exactly one of
    ``days_before``, ``school_days_before`` or ``last_friday_of_holiday = true``."""
    try:
        parsed = _RemindersFile(**raw)
    except ValidationError as exc:
        raise first_error(path, exc) from None
    if parsed.clock.missed_lookback_days * 24 < parsed.clock.catch_up_hours:
        raise ConfigError(path, "clock.missed_lookback_days", "at least the catch-up period")
    rules: list[ReminderRule] = []
    for name, rule in parsed.rules.items():
        whens = [
            rule.days_before is not None,
            rule.school_days_before is not None,
            rule.last_friday_of_holiday,
        ]
        if sum(whens) != 1:
            raise ConfigError(
                path,
                f"rules.{name}",
                "exactly one of days_before, school_days_before or last_friday_of_holiday = true",
            )
        if rule.last_friday_of_holiday and rule.applies_to != "term_start":
            raise ConfigError(path, f"rules.{name}.last_friday_of_holiday", "only for term_start")
        rules.append(
            ReminderRule(
                name=name,
                applies_to=rule.applies_to,
                category=rule.category,
                days_before=rule.days_before,
                school_days_before=rule.school_days_before,
                last_friday_of_holiday=rule.last_friday_of_holiday,
                send_time=rule.send_time,
                shift_to=rule.shift_to,
            )
        )
    return ReminderSettings(
        rules=tuple(rules),
        send_time=parsed.send_time,
        catch_up=dt.timedelta(hours=parsed.clock.catch_up_hours),
        missed_lookback=dt.timedelta(days=parsed.clock.missed_lookback_days),
        tick_seconds=parsed.clock.tick_seconds,
        lock_timeout_seconds=parsed.clock.lock_timeout_seconds,
        half_term_returns=parsed.half_term_returns,
    )


def load_reminder_settings(config_dir: Path) -> ReminderSettings:
    """Read and check ``reminders.toml`` under ``config_dir``."""
    path = config_dir / "reminders.toml"
    return parse_reminder_settings(path, read_toml(path))
