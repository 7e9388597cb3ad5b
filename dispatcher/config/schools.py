"""One school each (``config/schools/<slug>.toml``): where it is, when it may message families
(core hours, send window), how it sends (sender id, addresses, channels, languages)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatcher.config.files import ConfigError, StrictModel, first_error, read_toml
from dispatcher.config.policy import CategoryPolicy, Policy
from dispatcher.config.sign_off import SignOffConfig
from dispatcher.domain import Channel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeRange(StrictModel):
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


class ProviderNames(StrictModel):
    """The provider that sends each channel for a school (``providers`` in its file: a
    table, or ``"outbox"`` for the outbox on every channel), and
    what happens to its messages when this machine lacks that provider's credentials:
    ``hold`` them (one ALERT; they go once the credentials are set) or, for a demo or a
    trial machine only, write them to the ``outbox``."""

    sms: Literal["twilio", "outbox"] = "twilio"
    email: Literal["sendgrid", "outbox"] = "sendgrid"
    push: Literal["fcm", "outbox"] = "fcm"
    missing_credentials: Literal["hold", "outbox"] = "hold"

    @classmethod
    def outbox_only(cls) -> ProviderNames:
        """Every channel to the outbox (``providers = "outbox"``): nothing reaches a family."""
        return cls(sms="outbox", email="outbox", push="outbox")

    def named_for(self, channel: Channel) -> str:
        """The provider named for ``channel`` (``outbox`` when the school names the outbox)."""
        return str(getattr(self, channel.value))


class SchoolConfig(StrictModel):
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
    providers: ProviderNames = Field(
        default_factory=ProviderNames,
        description='Who sends this school\'s messages: "outbox" (recorded only, nothing '
        "reaches a family) or the provider of each channel (docs/operations/providers.md).",
    )
    mis: str = ""
    policy_source: str = Field(default="", description="The policy document this follows.")
    sign_off: SignOffConfig = Field(
        default_factory=SignOffConfig,
        description="Which announcements need a second senior (decision 0088).",
    )

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_shape(cls, value: object) -> object:
        if value == "outbox":
            return ProviderNames.outbox_only()
        if isinstance(value, str):
            raise ValueError(
                'expected "outbox" or a table naming each channel\'s provider, like '
                '{ sms = "twilio", email = "sendgrid", push = "fcm" }'
            )
        return value

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

    @field_validator("website")
    @classmethod
    def _https_website(cls, website: str) -> str:
        if website and not website.lower().startswith("https://"):
            raise ValueError("must be an https:// address (every link sent to families is https)")
        return website

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
    for category in school.sign_off.categories:
        if category not in policy.categories:
            raise ConfigError(
                path,
                f"sign_off.categories.{category}",
                f"one of {', '.join(sorted(policy.categories))}",
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
