"""Google's OAuth 2.0 token endpoint, for service accounts (RFC 7523 JWT bearer grant).

``POST /token`` with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an
``assertion`` signed by the emulator's service-account key (checked with its public key; the
``aud`` claim must be Google's token URL, as google-auth sends it, or this endpoint's;
``iss`` the service account; ``scope`` not empty)
answers ``{"access_token", "expires_in": 3600, "token_type": "Bearer"}``. Errors are
``{"error", "error_description"}`` with status 400, as Google answers them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulator.failures import FailureBook, FailureRule
from emulator.messages import Incoming, Reply, hang_reply, json_reply

TOKEN_PATH = "/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
#: The audiences Google accepts in the assertion. google-auth always puts the first one in
#: ``aud`` (whatever the ``token_uri``), so the emulator accepts these and its own URL.
GOOGLE_AUDIENCES = frozenset(
    {"https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token"}
)
#: Scopes that let a token send FCM messages.
FCM_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)


def oauth_error(error: str, description: str) -> dict[str, str]:
    """Google's token-endpoint error body."""
    return {"error": error, "error_description": description}


class OAuthApi:
    """The token endpoint, and the register of access tokens it issued."""

    provider = "oauth"

    def __init__(
        self, client_email: str, public_key_pem: Callable[[], str], failures: FailureBook
    ) -> None:
        self.client_email = client_email
        self._public_key_pem = public_key_pem
        self._failures = failures
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self.port: int | None = None

    def clear(self) -> None:
        """Forget every issued token."""
        with self._lock:
            self._tokens.clear()

    def scopes_of(self, access_token: str) -> frozenset[str] | None:
        """The scopes of a live token this endpoint issued, or None (unknown or expired)."""
        with self._lock:
            found = self._tokens.get(access_token)
        if found is None or found[0] <= time.time():
            return None
        return found[1]

    def handle(self, req: Incoming) -> Reply:
        """Answer ``POST /token``."""
        if req.method != "POST":
            return json_reply(self.provider, 405, oauth_error("invalid_request", "POST only"))
        parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {name: values[0] for name, values in parsed.items()}
        reply = self._grant(form)
        reply.form = form
        return reply

    def _grant(self, form: dict[str, str]) -> Reply:
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_BEARER:
            return json_reply(
                self.provider,
                400,
                oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}"),
            )
        claims = self._verified_claims(form.get("assertion", ""))
        if isinstance(claims, Reply):
            return claims
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            return json_reply(
                self.provider,
                400,
                oauth_error("invalid_scope", "Empty or missing scope not allowed."),
            )
        rule = self._failures.take(self.provider, [self.client_email])
        if rule is not None:
            return self.rule_reply(rule)
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (time.time() + TOKEN_LIFETIME, scopes)
        return json_reply(
            self.provider,
            200,
            {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"},
        )

    def _verified_claims(self, assertion: str) -> dict[str, Any] | Reply:
        from google.auth import exceptions, jwt

        decode: Callable[..., Any] = jwt.decode
        try:
            claims = decode(assertion, certs=self._public_key_pem(), clock_skew_in_seconds=10)
        except (ValueError, exceptions.GoogleAuthError):
            return json_reply(
                self.provider, 400, oauth_error("invalid_grant", "Invalid JWT Signature.")
            )
        audience = str(claims.get("aud", ""))
        if audience not in GOOGLE_AUDIENCES and not self._is_own_token_url(audience):
            return json_reply(
                self.provider,
                400,
                oauth_error("invalid_grant", "Invalid JWT: Failed audience check."),
            )
        if claims.get("iss") != self.client_email:
            return json_reply(
                self.provider, 400, oauth_error("invalid_grant", "Invalid grant: account not found")
            )
        return dict(claims)

    def _is_own_token_url(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.path == TOKEN_PATH and (self.port is None or parts.port == self.port)

    def rule_reply(self, rule: FailureRule) -> Reply:
        """The answer a failure rule asks for, in the token endpoint's shape."""
        if rule.timeout:
            return hang_reply(self.provider, rule.hang_seconds)
        status = rule.status if rule.status is not None else (400 if rule.code else 500)
        error = (
            str(rule.code)
            if rule.code is not None
            else ("invalid_grant" if status < 500 else "internal_failure")
        )
        return json_reply(
            self.provider,
            status,
            oauth_error(error, "Emulated failure."),
            rule.retry_after_header(),
        )
