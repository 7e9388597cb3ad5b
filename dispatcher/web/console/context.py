"""What the console's routes share: the session store and the throttle of this runtime,
the session cookie, the CSRF check, and the signed-in account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from fastapi import Request
from starlette.responses import Response

from dispatcher.access.staff import StaffInfo, get_staff
from dispatcher.queue.embedded_redis import resolve_redis_url
from dispatcher.runtime import Runtime
from dispatcher.web.console.sessions import ConsoleSession, SessionStore, Stage
from dispatcher.web.console.throttle import SignInThrottle
from dispatcher.web.deps import get_runtime

#: The cookie's name: the ``__Host-`` prefix makes the browser refuse it unless it is
#: Secure, for this host only and for every path, so no other site or path can plant one.
SECURE_COOKIE = "__Host-console-session"
#: Its name when Secure is turned off (``DISPATCHER_CONSOLE_SECURE_COOKIES=false``).
PLAIN_COOKIE = "console-session"
_REDIS_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Console:
    """The console's services for one runtime."""

    runtime: Runtime
    sessions: SessionStore
    throttle: SignInThrottle

    @property
    def cookie_name(self) -> str:
        """The session cookie's name under the current settings."""
        return SECURE_COOKIE if self.runtime.settings.console_secure_cookies else PLAIN_COOKIE

    def session_of(self, request: Request, now: datetime) -> ConsoleSession | None:
        """The live session of ``request``'s cookie, or None."""
        return self.sessions.load(request.cookies.get(self.cookie_name), now)

    def set_cookie(self, response: Response, session: ConsoleSession) -> None:
        """Give the browser ``session``'s id: HttpOnly, SameSite=Lax, Secure unless turned
        off; no expiry (it ends with the browser, or sooner on the server)."""
        response.set_cookie(
            self.cookie_name,
            session.id,
            httponly=True,
            samesite="lax",
            secure=self.runtime.settings.console_secure_cookies,
            path="/",
        )

    def clear_cookie(self, response: Response) -> None:
        """Tell the browser to forget the session cookie."""
        response.delete_cookie(
            self.cookie_name,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.runtime.settings.console_secure_cookies,
        )

    def account_of(self, session: ConsoleSession | None) -> StaffInfo | None:
        """The account signed in with ``session`` (fully: past the second factor), or None.
        The session of an account since disabled (or deleted) ends here, at its next
        request."""
        if session is None or session.stage is not Stage.SIGNED_IN or session.account_id is None:
            return None
        with self.runtime.sessions() as db:
            account = get_staff(db, session.account_id)
        if account is None or account.disabled:
            self.sessions.end(session.id)
            return None
        return account


def now_utc() -> datetime:
    """The time now, in UTC (routes pass it on: the logic below takes time as a fact)."""
    return datetime.now(UTC)


def _build(runtime: Runtime) -> Console:
    shared: list[redis.Redis[Any]] = []

    def client() -> redis.Redis[Any]:
        if not shared:
            shared.append(
                redis.Redis.from_url(
                    resolve_redis_url(runtime.settings),
                    socket_timeout=_REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                )
            )
        return shared[0]

    settings = runtime.settings
    return Console(
        runtime=runtime,
        sessions=SessionStore(
            client,
            idle_timeout=timedelta(minutes=settings.console_idle_minutes),
            lifetime=timedelta(hours=settings.console_session_hours),
        ),
        throttle=SignInThrottle(client, settings.console_attempts_per_address),
    )


def get_console(request: Request) -> Console:
    """The console's services for this request's runtime (built once per runtime)."""
    runtime = get_runtime(request)
    console = runtime.memo.get("web.console")
    if console is None:
        console = runtime.memo["web.console"] = _build(runtime)
    assert isinstance(console, Console)
    return console


def client_address(request: Request) -> str:
    """The client's address (uvicorn has read ``X-Forwarded-For`` from trusted proxies)."""
    return request.client.host if request.client else "unknown"
