"""Console sessions, kept in Redis (decision 0079): the cookie holds only a random id.

A session has a stage (a visitor not yet signed in, a password accepted and a code to
come, a second factor to enrol, signed in), the account once a password was right, and a
synchronizer CSRF token that every form of the console carries. It ends after
``DISPATCHER_CONSOLE_IDLE_MINUTES`` without a request (Redis's expiry, renewed at each
request) and ``DISPATCHER_CONSOLE_SESSION_HOURS`` after it began, whatever happens;
signing out deletes it. A new id is issued at every change of stage, so an id known
before a sign-in is worth nothing after it.

The Redis key is the SHA-256 of the id, so a copy of Redis holds no usable cookie.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import redis

_KEY_PREFIX = "dispatcher:console:session:"


class Stage(StrEnum):
    """How far a session's sign-in has gone."""

    VISITOR = "visitor"
    CODE_NEEDED = "code_needed"
    ENROLMENT_NEEDED = "enrolment_needed"
    SIGNED_IN = "signed_in"


@dataclass(frozen=True)
class ConsoleSession:
    """One browser's session. ``id`` is the cookie's value (never stored as such)."""

    id: str
    csrf_token: str
    stage: Stage
    started_at: float
    account_id: int | None = None
    #: The TOTP secret shown for enrolment, until a code confirms it.
    enrolment_secret: str | None = None

    def csrf_matches(self, token: str | None) -> bool:
        """Whether a form's ``token`` is this session's CSRF token."""
        return token is not None and secrets.compare_digest(
            token.encode("utf-8", "replace"), self.csrf_token.encode("utf-8")
        )


def _key(session_id: str) -> str:
    return _KEY_PREFIX + hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class SessionStore:
    """Sessions in Redis with an idle timeout and an absolute lifetime."""

    def __init__(
        self,
        client: Callable[[], redis.Redis[Any]],
        idle_timeout: timedelta,
        lifetime: timedelta,
    ) -> None:
        self._client = client
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime

    def _write(self, session: ConsoleSession) -> None:
        body = {k: v for k, v in asdict(session).items() if k != "id"}
        self._client().set(
            _key(session.id), json.dumps(body), ex=max(1, int(self.idle_timeout.total_seconds()))
        )

    def start(
        self,
        now: datetime,
        stage: Stage = Stage.VISITOR,
        account_id: int | None = None,
        enrolment_secret: str | None = None,
    ) -> ConsoleSession:
        """A new session with a new id and CSRF token, stored."""
        session = ConsoleSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            stage=stage,
            started_at=now.timestamp(),
            account_id=account_id,
            enrolment_secret=enrolment_secret,
        )
        self._write(session)
        return session

    def load(self, session_id: str | None, now: datetime) -> ConsoleSession | None:
        """The live session whose cookie is ``session_id`` (its idle timeout renewed), or
        None: unknown, idle too long, or older than the lifetime (then deleted)."""
        if not session_id or len(session_id) > 100:
            return None
        client = self._client()
        raw = client.get(_key(session_id))
        if raw is None:
            return None
        try:
            body = json.loads(raw)
            session = ConsoleSession(id=session_id, **{**body, "stage": Stage(body["stage"])})
        except (ValueError, TypeError, KeyError):
            self.end(session_id)
            return None
        if now.timestamp() - session.started_at > self.lifetime.total_seconds():
            self.end(session_id)
            return None
        client.expire(_key(session_id), max(1, int(self.idle_timeout.total_seconds())))
        return session

    def save(self, session: ConsoleSession, **changes: Any) -> ConsoleSession:
        """``session`` with ``changes``, stored under the same id."""
        changed = replace(session, **changes)
        self._write(changed)
        return changed

    def end(self, session_id: str) -> None:
        """Delete the session: its cookie is worth nothing from now on."""
        self._client().delete(_key(session_id))
