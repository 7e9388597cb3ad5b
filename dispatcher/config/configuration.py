"""Policy, schools, trusts and calendars loaded and cross-checked together: what every process
reads at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from dispatcher.config.calendars import SchoolCalendar, load_calendars
from dispatcher.config.policy import Policy, load_policy
from dispatcher.config.schools import SchoolConfig, load_schools
from dispatcher.config.trusts import TrustConfig, load_trusts


class Configuration(BaseModel):
    """Policy, schools, trusts and school calendars, loaded together."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    policy: Policy
    schools: dict[str, SchoolConfig]
    trusts: dict[str, TrustConfig] = Field(default_factory=dict)
    #: ``config/calendars/<slug>.toml`` by school slug; a school without one has none.
    calendars: dict[str, SchoolCalendar] = Field(default_factory=dict)

    def school(self, slug: str) -> SchoolConfig:
        """Return the school with ``slug`` or raise ``KeyError`` listing the known ones."""
        try:
            return self.schools[slug]
        except KeyError:
            known = ", ".join(sorted(self.schools)) or "none"
            raise KeyError(f"unknown school {slug!r} (known: {known})") from None

    def trust(self, slug: str) -> TrustConfig:
        """Return the trust with ``slug`` or raise ``KeyError`` listing the known ones."""
        try:
            return self.trusts[slug]
        except KeyError:
            known = ", ".join(sorted(self.trusts)) or "none"
            raise KeyError(f"unknown trust {slug!r} (known: {known})") from None

    def members(self, trust: str) -> list[SchoolConfig]:
        """The schools of ``trust`` (those whose file names it), by slug; ``KeyError`` for
        an unknown trust."""
        self.trust(trust)
        return [s for slug, s in sorted(self.schools.items()) if s.trust == trust]


def load_configuration(config_dir: Path) -> Configuration:
    """Load and cross-check policy, schools, trusts and calendars from ``config_dir``."""
    policy = load_policy(config_dir)
    schools = load_schools(config_dir, policy)
    return Configuration(
        policy=policy,
        schools=schools,
        trusts=load_trusts(config_dir, schools),
        calendars=load_calendars(config_dir, schools),
    )
