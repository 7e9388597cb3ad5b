"""Authentication of API calls: ``Authorization: Bearer <token>``.

Tokens are created with ``dispatcher tokens create``; only their SHA-256 is stored. An
unknown or revoked token, or none, is answered 401 with the standard error body.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dispatcher.access.roles import school_refusal
from dispatcher.access.tokens import TokenInfo, authenticate
from dispatcher.runtime import Runtime
from dispatcher.web.deps import get_runtime
from dispatcher.web.errors import ApiError

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An API token from `dispatcher tokens create`: `Authorization: Bearer dsp_...`.",
)

AUTH_FIELD = "header.Authorization"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def current_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    runtime: Runtime = Depends(get_runtime),
) -> TokenInfo:
    """The live token of this request; raises 401 (``header.Authorization``) otherwise."""
    if credentials is None or not credentials.credentials:
        raise ApiError(401, AUTH_FIELD, "give an API token: Bearer <token>", _CHALLENGE)
    secret = credentials.credentials
    if not secret.isascii() or len(secret) > 200:
        raise ApiError(401, AUTH_FIELD, "unknown or revoked token", _CHALLENGE)
    with runtime.sessions() as session:
        token = authenticate(session, secret, datetime.now(UTC))
    if token is None:
        raise ApiError(401, AUTH_FIELD, "unknown or revoked token", _CHALLENGE)
    return token


def school_trust(runtime: Runtime, school: str) -> str | None:
    """The trust ``school`` belongs to by its configuration (None: none, or no such school)."""
    config = runtime.configuration.schools.get(school)
    return config.trust if config is not None else None


def require_school(token: TokenInfo, school: str, field: str, runtime: Runtime) -> None:
    """Raise 403 (naming ``field``) when ``token`` may not act for ``school``: a school
    token for another school, a trust token for a school outside its trust."""
    refusal = school_refusal(token, school, school_trust(runtime, school))
    if refusal is not None:
        raise ApiError(403, field, refusal)
