"""The categories of announcement (``config/policy.toml``): how urgent each is, which channels
it uses in order, whether it waits for the send window, may be opted out of, escalates; and
the prices a dry run uses for its cost."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from dispatcher.config.files import ConfigError, StrictModel, first_error, read_toml
from dispatcher.domain import Channel, Urgency


class CategoryPolicy(StrictModel):
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
        default=True,
        description="Hold deliveries outside the school's send window and on days the "
        "school is shut (weekends, bank holidays, school holidays).",
    )
    school_holidays_apply: bool = Field(
        default=True,
        description="With the send window: also wait out the school's holidays (false: "
        "weekends and bank holidays only, for news families need during a holiday).",
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


class Pricing(StrictModel):
    """Estimated provider prices, used for the cost shown in a dry run."""

    sms_segment_gbp: Decimal = Decimal("0.04")
    email_gbp: Decimal = Decimal("0.0008")
    push_gbp: Decimal = Decimal("0")


class Policy(StrictModel):
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
