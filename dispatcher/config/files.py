"""Reading configuration files: a TOML document, and an error that names the file, the key and
what was expected, so that an office manager's typo does not become a 7 a.m. mystery."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
)


class ConfigError(Exception):
    """A configuration file is missing, unreadable or wrong; the message says where."""

    def __init__(self, file: Path | str, key: str, expected: str) -> None:
        self.file = str(file)
        self.key = key
        self.expected = expected
        super().__init__(f"{self.file}: {key}: {expected}")


class StrictModel(BaseModel):
    """A configuration table: unknown keys are errors, values never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
