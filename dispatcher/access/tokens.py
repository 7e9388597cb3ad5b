"""API tokens: creating, listing, revoking and checking them.

A token is shown once, when it is created; only its SHA-256 (hex) is stored. Each token has a
role (``dispatcher.access.roles``: what it may do) and a scope: one school, one trust (its
member schools), or neither (every school of this deployment; decision 0073).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.access.roles import RequesterKind, Role
from dispatcher.access.scopes import ScopeError, scope_in_words, scope_school_id
from dispatcher.config.configuration import Configuration
from dispatcher.store.models import ApiToken, School

#: Every token starts with this, so a leaked one is easy to recognise (and grep for).
TOKEN_PREFIX = "dsp_"
_NAME_MAX = 100


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; ``field`` names the option to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class TokenInfo:
    """A token as the rest of the system sees it: never the secret, never its hash."""

    id: int
    name: str
    role: Role
    school: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    #: The trust whose member schools it acts for (``school`` is then None).
    trust: str | None = None

    @property
    def kind(self) -> RequesterKind:
        """Always a token: refusals name it (``token 'office-demo'``)."""
        return RequesterKind.TOKEN

    @property
    def scope(self) -> str:
        """Its scope in words: ``school demo``, ``trust sendat`` or ``every school``."""
        return scope_in_words(self.school, self.trust)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dictionary (what ``dispatcher tokens list --json`` prints)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "school": self.school,
            "trust": self.trust,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def generate_token() -> str:
    """A new random token: ``dsp_`` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 of ``token`` in hex: what the database keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(text: str) -> Role:
    """``office``, ``senior`` or ``admin`` (any case); raises ``TokenError`` naming ``role``."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise TokenError("role", "expected office, senior or admin") from None


def _info(token: ApiToken, school_slug: str | None) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        name=token.name,
        role=Role(token.role),
        school=school_slug,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        trust=token.trust,
    )


def create_token(
    session: Session,
    configuration: Configuration,
    name: str,
    role: str,
    school: str | None,
    now: datetime,
    trust: str | None = None,
) -> tuple[TokenInfo, str]:
    """Store a new token and return it with its secret (the only time the secret exists).
    ``school`` scopes it to one school, ``trust`` to a trust's member schools, neither to
    every school.

    Raises ``TokenError`` for an empty or taken name, an unknown role, an unknown school or
    trust, or both a school and a trust. Commits.
    """
    name = name.strip()
    if not name:
        raise TokenError("name", "must not be empty")
    if len(name) > _NAME_MAX:
        raise TokenError("name", f"at most {_NAME_MAX} characters")
    parsed_role = parse_role(role)
    try:
        school_id = scope_school_id(session, configuration, school, trust)
    except ScopeError as exc:
        raise TokenError(exc.field, exc.message) from None
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenError("name", f"a token named {name!r} already exists")
    secret = generate_token()
    row = ApiToken(
        name=name,
        token_hash=hash_token(secret),
        role=parsed_role.value,
        school_id=school_id,
        trust=trust,
        created_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise TokenError("name", f"a token named {name!r} already exists") from None
    return _info(row, school), secret


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    rows = session.execute(
        select(ApiToken, School.slug)
        .outerjoin(School, School.id == ApiToken.school_id)
        .order_by(ApiToken.id)
    ).all()
    return [_info(token, slug) for token, slug in rows]


def revoke_token(session: Session, name: str, now: datetime) -> TokenInfo:
    """Revoke the token called ``name`` (revoking twice keeps the first time). Commits.

    Raises ``TokenError`` naming ``name`` when there is no such token.
    """
    row = session.execute(
        select(ApiToken, School.slug)
        .outerjoin(School, School.id == ApiToken.school_id)
        .where(ApiToken.name == name)
    ).one_or_none()
    if row is None:
        raise TokenError("name", f"no token named {name!r}")
    token, slug = row
    if token.revoked_at is None:
        token.revoked_at = now
        session.commit()
    return _info(token, slug)


def authenticate(session: Session, secret: str, now: datetime) -> TokenInfo | None:
    """The live token whose secret is ``secret``, or None (unknown or revoked).

    Records the time of use. Commits.
    """
    row = session.execute(
        select(ApiToken, School.slug)
        .outerjoin(School, School.id == ApiToken.school_id)
        .where(ApiToken.token_hash == hash_token(secret))
    ).one_or_none()
    if row is None or row[0].revoked_at is not None:
        return None
    token, slug = row
    session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    session.commit()
    return _info(token, slug)
