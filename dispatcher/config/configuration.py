"""Policy and schools loaded and cross-checked together: what every process reads at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
)

from dispatcher.config.policy import Policy, load_policy
from dispatcher.config.schools import SchoolConfig, load_schools


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
