"""Headers that every page of the product carries (decision 0080): a Content-Security-Policy
that lets a page load only what this server serves, with no inline script; no framing;
no MIME sniffing; no Referer sent elsewhere.

The API's documentation pages (``/docs``, ``/redoc``: Swagger UI and ReDoc, which need
inline scripts of their own) are left out of the policy; they load nothing from outside
either (decision 0062).
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

_ALWAYS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_POLICY: Final = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
#: Paths whose pages keep the documentation's own inline scripts.
_DOCS_PREFIXES: Final = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        with_policy = not path.startswith(_DOCS_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [*_ALWAYS, _POLICY] if with_policy else list(_ALWAYS)
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
