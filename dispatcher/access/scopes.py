"""Where an API token or a staff account may act: one school, one trust's member schools, or
(with neither) every school (decision 0073). One check for both kinds of credential."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dispatcher.config.configuration import Configuration
from dispatcher.store.schools import ensure_school


class ScopeError(ValueError):
    """The scope cannot be given as asked; ``field`` is ``school`` or ``trust``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def scope_school_id(
    session: Session, configuration: Configuration, school: str | None, trust: str | None
) -> int | None:
    """The row id of ``school`` (stored if new), or None for a trust or every school. Raises
    ``ScopeError`` for both at once, an unknown school or an unknown trust."""
    if school is not None and trust is not None:
        raise ScopeError("trust", "give a school or a trust, not both")
    if trust is not None:
        try:
            configuration.trust(trust)
        except KeyError as exc:
            raise ScopeError("trust", str(exc.args[0])) from None
    if school is None:
        return None
    try:
        school_cfg = configuration.school(school)
    except KeyError as exc:
        raise ScopeError("school", str(exc.args[0])) from None
    return ensure_school(session, school_cfg).id


def scope_in_words(school: str | None, trust: str | None) -> str:
    """A scope as people read it: ``school demo``, ``trust sendat`` or ``every school``."""
    if school is not None:
        return f"school {school}"
    if trust is not None:
        return f"trust {trust}"
    return "every school"
