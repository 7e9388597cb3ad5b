"""Trusts (``config/trusts/<slug>.toml``): a group of schools run together, such as a
multi-academy trust. Each member school keeps its own file in ``config/schools/`` (its own
name, phone, website, sender id, reply-to address and calendar) and names its trust with
``trust = "<slug>"``; the trust's file says what the trust is called. Membership is that one
key, so adding a school to a trust is adding one school file (decision 0072).

A school's ``trust`` must name a trust file, and no trust may share a slug with a school, so
``--trust sendat`` and ``--school sendat`` can never be confused.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from dispatcher.config.files import ConfigError, StrictModel, first_error, read_toml
from dispatcher.config.schools import SchoolConfig


class TrustConfig(StrictModel):
    """A trust: its name and public details. Its members are the schools that name it."""

    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: str = Field(min_length=1, description="e.g. SENDAT.")
    website: str = ""
    phone: str = ""
    policy_source: str = Field(default="", description="The policy document this follows.")


def load_trust(path: Path) -> TrustConfig:
    """Read one trust file; the slug is the file name without ``.toml``."""
    raw = read_toml(path)
    raw.setdefault("slug", path.stem)
    if raw["slug"] != path.stem:
        raise ConfigError(path, "slug", f"the file name {path.stem!r} (or no slug key)")
    try:
        return TrustConfig(**raw)
    except ValidationError as exc:
        raise first_error(path, exc) from None


def load_trusts(config_dir: Path, schools: Mapping[str, SchoolConfig]) -> dict[str, TrustConfig]:
    """Every ``trusts/*.toml`` under ``config_dir``, keyed by slug, checked against the
    schools: each school's ``trust`` names one of them, and no trust is named like a school.
    No folder and no school naming a trust: no trusts."""
    folder = config_dir / "trusts"
    trusts = (
        {p.stem: load_trust(p) for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}
    )
    for slug in trusts:
        if slug in schools:
            raise ConfigError(
                folder / f"{slug}.toml",
                "(file name)",
                "a slug no school uses (trusts/ and schools/ share one namespace)",
            )
    for slug, school in schools.items():
        if school.trust is not None and school.trust not in trusts:
            known = ", ".join(sorted(trusts)) or "none"
            raise ConfigError(
                config_dir / "schools" / f"{slug}.toml",
                "trust",
                f"the slug of a trust file in trusts/ (known: {known})",
            )
    return trusts
