"""Policy and school configuration, read from TOML and validated.

``config/policy.toml`` holds the categories (what kind of message, how urgent, which channels);
``config/schools/*.toml`` holds one school each. A mistake names the file, the key and what
was expected, so that an office manager's typo does not become a 7 a.m. mystery.
"""

from __future__ import annotations

import tomllib
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatcher.domain import Channel, Urgency

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """A configuration file is missing, unreadable or wrong; the message says where."""

    def __init__(self, file: Path | str, key: str, expected: str) -> None:
        self.file = str(file)
        self.key = key
        self.expected = expected
        super().__init__(f"{self.file}: {key}: {expected}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryPolicy(_Strict):
    """What a category of announcement is allowed to do."""

    name: str = Field(description="Category name, e.g. emergency_closure.")
    description: str = Field(default="", description="What the category is for.")
    urgency: Urgency
    channels: tuple[Channel, ...] = Field(
        min_length=1, description="Channels in order of preference for this category."
    )
    email_backup: bool = Field(
        default=False, description="Also send an email copy when the primary is not email."
    )
    send_window_applies: bool = Field(
        default=True, description="Hold deliveries outside the school's send window."
    )
    opt_out_allowed: bool = Field(
        default=False, description="Whether a contact's opt-out of this category is honoured."
    )
    requires_parental_responsibility: bool = Field(
        default=False,
        description="Only contacts with parental responsibility (decisions, payments).",
    )
    escalate_to_next_contact: bool = Field(
        default=False,
        description="When a first contact cannot be reached, also message the second contact.",
    )
    max_sms_segments: int = Field(default=3, ge=1, le=10)

    @field_validator("channels")
    @classmethod
    def _no_repeats(cls, channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if len(set(channels)) != len(channels):
            raise ValueError("a channel may appear only once")
        return channels


class Pricing(_Strict):
    """Estimated provider prices, used for the cost shown in a dry run."""

    sms_segment_gbp: Decimal = Decimal("0.04")
    email_gbp: Decimal = Decimal("0.0008")
    push_gbp: Decimal = Decimal("0")


class Policy(_Strict):
    """Every category, plus prices."""

    categories: dict[str, CategoryPolicy]
    pricing: Pricing = Pricing()

    def category(self, name: str) -> CategoryPolicy:
        """Return the named category or raise ``KeyError`` listing the known ones."""
        try:
            return self.categories[name]
        except KeyError:
            known = ", ".join(sorted(self.categories))
            raise KeyError(f"unknown category {name!r} (known: {known})") from None


class TimeRange(_Strict):
    """A daily time range in the school's local time, ``start`` inclusive, ``end`` exclusive."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class SendWindow(TimeRange):
    """When non-urgent messages may be sent: a time range on some weekdays."""

    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in days if d not in WEEKDAYS]
        if bad or not days:
            raise ValueError(f"days must be some of {', '.join(WEEKDAYS)}")
        return days

    def weekday_numbers(self) -> frozenset[int]:
        """Weekdays (Monday = 0) on which the window is open."""
        return frozenset(WEEKDAYS.index(d) for d in self.days)


class SchoolConfig(_Strict):
    """One school: where it is, when it may message, how it sends."""

    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: str
    trust: str | None = None
    timezone: str = "Europe/London"
    core_hours: TimeRange
    send_window: SendWindow
    sender_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9 ]{1,11}$")] = Field(
        description="SMS sender id (UK alphanumeric: letters, digits, spaces; at most 11)."
    )
    from_email: str
    reply_to: str
    phone: str = ""
    website: str = ""
    default_language: str = "en"
    languages: tuple[str, ...] = ("en",)
    channels_enabled: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL)
    channel_order: dict[str, tuple[Channel, ...]] = Field(
        default_factory=dict,
        description="Per-category channel order where the school's policy differs.",
    )
    providers: Literal["live", "outbox"] = Field(
        default="live",
        description="live: send through the providers whose credentials are configured; "
        "outbox: record messages only (a school being set up or trialled).",
    )
    mis: str = ""
    policy_source: str = Field(default="", description="The policy document this follows.")

    @field_validator("channel_order")
    @classmethod
    def _overrides_are_orders(
        cls, orders: dict[str, tuple[Channel, ...]]
    ) -> dict[str, tuple[Channel, ...]]:
        for category, channels in orders.items():
            if not channels:
                raise ValueError(f"{category}: give at least one channel")
            if len(set(channels)) != len(channels):
                raise ValueError(f"{category}: a channel may appear only once")
        return orders

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @property
    def tz(self) -> ZoneInfo:
        """The school's time zone."""
        return ZoneInfo(self.timezone)

    def channels_for(self, category: CategoryPolicy) -> tuple[Channel, ...]:
        """Channels this school uses for ``category``, in order, limited to those it has."""
        order = self.channel_order.get(category.name, category.channels)
        return tuple(c for c in order if c in self.channels_enabled)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``; a missing or malformed file is a ``ConfigError``."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "a readable TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(syntax)", f"valid TOML ({exc})") from None


def first_error(path: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    """The first problem pydantic found in ``path``, as a ``ConfigError`` naming its key."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    key = f"{prefix}{key}" if key else prefix.rstrip(".") or "(root)"
    return ConfigError(path, key, err["msg"])


def load_policy(config_dir: Path) -> Policy:
    """Read and validate ``policy.toml``; raise ``ConfigError`` naming file and key."""
    path = config_dir / "policy.toml"
    raw = read_toml(path)
    categories_raw = raw.get("categories")
    if not isinstance(categories_raw, dict) or not categories_raw:
        raise ConfigError(path, "categories", "a table of categories, e.g. [categories.newsletter]")
    categories: dict[str, CategoryPolicy] = {}
    for name, body in categories_raw.items():
        if not isinstance(body, dict):
            raise ConfigError(path, f"categories.{name}", "a table")
        try:
            categories[name] = CategoryPolicy(name=name, **body)
        except ValidationError as exc:
            raise first_error(path, exc, f"categories.{name}.") from None
    try:
        pricing = Pricing(**raw.get("pricing", {}))
    except ValidationError as exc:
        raise first_error(path, exc, "pricing.") from None
    unknown = set(raw) - {"categories", "pricing"}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], "only [categories.*] and [pricing] tables")
    return Policy(categories=categories, pricing=pricing)


def load_school(path: Path, policy: Policy) -> SchoolConfig:
    """Read one school file; the slug is the file name without ``.toml``."""
    raw = read_toml(path)
    raw.setdefault("slug", path.stem)
    if raw["slug"] != path.stem:
        raise ConfigError(path, "slug", f"the file name {path.stem!r} (or no slug key)")
    try:
        school = SchoolConfig(**raw)
    except ValidationError as exc:
        raise first_error(path, exc) from None
    for category in school.channel_order:
        if category not in policy.categories:
            raise ConfigError(
                path, f"channel_order.{category}", f"one of {', '.join(sorted(policy.categories))}"
            )
    if school.default_language not in school.languages:
        raise ConfigError(path, "default_language", "one of the school's languages")
    return school


def load_schools(config_dir: Path, policy: Policy) -> dict[str, SchoolConfig]:
    """Read every ``schools/*.toml`` under ``config_dir``, keyed by slug."""
    folder = config_dir / "schools"
    if not folder.is_dir():
        raise ConfigError(folder, "(folder)", "a folder of school TOML files")
    return {p.stem: load_school(p, policy) for p in sorted(folder.glob("*.toml"))}


class Configuration(BaseModel):
    """Policy and schools, loaded together."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    policy: Policy
    schools: dict[str, SchoolConfig]

    def school(self, slug: str) -> SchoolConfig:
        """Return the school with ``slug`` or raise ``KeyError`` listing the known ones."""
        try:
            return self.schools[slug]
        except KeyError:
            known = ", ".join(sorted(self.schools)) or "none"
            raise KeyError(f"unknown school {slug!r} (known: {known})") from None


def load_configuration(config_dir: Path) -> Configuration:
    """Load and cross-check policy and schools from ``config_dir``."""
    policy = load_policy(config_dir)
    return Configuration(policy=policy, schools=load_schools(config_dir, policy))
