"""App push through Firebase Cloud Messaging's HTTP v1 API, with ``google-auth`` and ``httpx``.

**Why not firebase-admin.** ``firebase_admin.messaging`` builds its send URL from a class
constant (``_MessagingService.FCM_URL = 'https://fcm.googleapis.com/v1/projects/{0}/
messages:send'``) and offers no emulator setting for messaging (the ``*_EMULATOR_HOST``
variables cover Auth, Realtime Database, Firestore and Storage only). Pointing it elsewhere
would mean patching a private class, so this adapter uses the documented fallback: Google's
own ``google-auth`` library for the service account's OAuth token (its ``token_uri`` is taken
from the service-account JSON, so the emulator's ``/token`` endpoint is used in tests; the
token is refreshed, under a lock, shortly before it expires) and an ``httpx`` client, whose
pool keeps a connection alive per worker thread, to ``POST {base_url}/v1/projects/{project}/
messages:send`` with that bearer token.
When either endpoint is not a ``googleapis.com`` host (the emulator), the credentials skip
google-auth's Regional Access Boundary lookup, the one call it would otherwise make to Google
(``iamcredentials.googleapis.com``) whatever the configured URLs.

The message: ``token`` = the contact's push token, ``notification`` = the rendered
``title`` and ``body``, ``data`` = ``{"delivery_id", "announcement_id", "category"}``
(strings, as FCM requires). The receipt is FCM's message ``name``. Every platform's
collapse key names the delivery (``android.notification.tag``, ``apns-collapse-id``,
web push ``Topic``): a push sent again after its answer was lost replaces the first on the
device instead of showing twice (FCM has no status callbacks to wait for; decision 0056).

**Errors** (``FCM_ERRORS``, from https://firebase.google.com/docs/reference/fcm/rest/v1/
ErrorCode) by the ``errorCode`` of the ``FcmError`` detail: UNREGISTERED, and INVALID_ARGUMENT
about the token, are ``DeadTokenFailure`` (mark the token dead); INVALID_ARGUMENT about another
field is a plain permanent failure; SENDER_ID_MISMATCH permanent; THIRD_PARTY_AUTH_ERROR
(the project's APNs or web-push credentials) a ``ConfigurationFailure``; QUOTA_EXCEEDED,
UNAVAILABLE and INTERNAL transient, honouring ``Retry-After``. With no ``errorCode``: 401/403
(the service account or project is wrong) and a refused token request are
``ConfigurationFailure``; 429 and 5xx transient; other 4xx permanent. Timeouts and connection
errors, to FCM or to the token endpoint, are transient.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from google.auth import exceptions as google_exceptions
from google.auth.transport.requests import Request as TokenRequest
from google.oauth2 import service_account

from dispatcher.channels.base import (
    ChannelError,
    OutgoingMessage,
    ProviderReceipt,
    TransientFailure,
)
from dispatcher.channels.errors import ErrorRule, FailureKind, answer_lost
from dispatcher.channels.rate_limit import RateLimit
from dispatcher.channels.retry import (
    CONNECTIONS_PER_PROCESS,
    RetryPolicy,
    accepted_without_id,
    parse_retry_after,
    send_with_retries,
)
from dispatcher.channels.settings import DEFAULT_FCM_BASE_URL, ProviderSettings, protect_logs
from dispatcher.domain import Urgency

log = logging.getLogger("channels.fcm")

DOCS: Final = "https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode"
SCOPES: Final = ("https://www.googleapis.com/auth/firebase.messaging",)
FCM_ERROR_TYPE: Final = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE: Final = "type.googleapis.com/google.rpc.BadRequest"

_P, _D, _C, _T = (
    FailureKind.PERMANENT,
    FailureKind.DEAD_TOKEN,
    FailureKind.CONFIGURATION,
    FailureKind.TRANSIENT,
)

#: FCM's ``errorCode`` values and what they mean for a delivery.
FCM_ERRORS: Final[Mapping[str, ErrorRule]] = {
    "UNREGISTERED": ErrorRule(_D, "the app instance was unregistered (token is dead)", DOCS),
    "INVALID_ARGUMENT": ErrorRule(_D, "the registration token is not valid", DOCS),
    "SENDER_ID_MISMATCH": ErrorRule(
        _P, "the token belongs to a different sender (Firebase project)", DOCS
    ),
    "THIRD_PARTY_AUTH_ERROR": ErrorRule(
        _C, "the project's APNs certificate or web push key is invalid or missing", DOCS
    ),
    "QUOTA_EXCEEDED": ErrorRule(_T, "sending limit exceeded", DOCS),
    "UNAVAILABLE": ErrorRule(_T, "FCM is overloaded or unavailable", DOCS),
    "INTERNAL": ErrorRule(_T, "FCM internal error", DOCS),
}
#: INVALID_ARGUMENT about something other than the token (too big, a bad data key...).
INVALID_MESSAGE: Final = ErrorRule(_P, "FCM rejected the message as invalid", DOCS)
_BY_STATUS: Final = {
    "transient": ErrorRule(_T, "FCM could not take the request now", DOCS),
    "configuration": ErrorRule(_C, "FCM refused the service account or project", DOCS),
    "permanent": ErrorRule(_P, "FCM rejected the message", DOCS),
}
TOKEN_REFUSED: Final = ErrorRule(_C, "the token endpoint refused the service account", DOCS)


def _is_google(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "googleapis.com" or host.endswith(".googleapis.com")


class _OffGoogleCredentials(service_account.Credentials):
    """Service-account credentials for an FCM endpoint and token endpoint that are not
    Google's (the emulator): identical, except that they never look up the account's
    Regional Access Boundary, which google-auth otherwise does after each token refresh by
    calling ``iamcredentials.googleapis.com`` (a host off this machine). The lookup URL is
    the subclass hook google-auth defines for it; None means "no lookup"."""

    def _build_regional_access_boundary_lookup_url(self, request: Any = None) -> str | None:
        return None


def classify_fcm_error(status: int, body: Any, retry_after: float | None = None) -> ChannelError:
    """The failure for an FCM error answer: by the FcmError ``errorCode`` in ``body`` (the
    parsed JSON) when ``FCM_ERRORS`` knows it, else by HTTP ``status``."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    details = details if isinstance(details, list) else []
    error_code = next(
        (
            d.get("errorCode")
            for d in details
            if isinstance(d, dict) and d.get("@type") == FCM_ERROR_TYPE
        ),
        None,
    )
    fields = [
        str(v.get("field", ""))
        for d in details
        if isinstance(d, dict) and d.get("@type") == BAD_REQUEST_TYPE
        for v in d.get("fieldViolations") or []
        if isinstance(v, dict)
    ]
    rule = FCM_ERRORS.get(error_code) if isinstance(error_code, str) else None
    if error_code == "INVALID_ARGUMENT" and any(f != "message.token" for f in fields):
        rule = INVALID_MESSAGE
    if rule is None and status == 400 and fields:
        rule = INVALID_MESSAGE
    code = error_code if isinstance(error_code, str) and rule is not None else None
    if rule is None:
        if status == 429 or status >= 500:
            rule = _BY_STATUS["transient"]
        elif status in (401, 403, 404):
            rule = _BY_STATUS["configuration"]
        else:
            rule = _BY_STATUS["permanent"]
    if code is None:
        google_status = error.get("status") if isinstance(error, dict) else None
        code = str(google_status) if google_status else f"http_{status}"
        if rule is INVALID_MESSAGE:
            code = "INVALID_ARGUMENT"
    return rule.failure(code, f"HTTP {status}", retry_after)


def collapse_tag(delivery_id: int) -> str:
    """The key under which a device shows one delivery's push once, however many times it is
    sent (≤ 32 URL-safe characters, as web push's ``Topic`` requires)."""
    return f"delivery-{delivery_id}"[:32]


class FcmPushAdapter:
    """Sends app push notifications through one Firebase project's service account."""

    name = "fcm"

    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        *,
        project_id: str | None = None,
        base_url: str = DEFAULT_FCM_BASE_URL,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimit | None = None,
    ) -> None:
        private_key = str(service_account_info.get("private_key") or "")
        protect_logs([private_key, *(line for line in private_key.splitlines() if len(line) >= 16)])
        project = project_id or service_account_info.get("project_id")
        if not project:
            raise ValueError("FCM_PROJECT_ID is not set and the service account names none")
        self.project_id = str(project)
        self.client_email = str(service_account_info.get("client_email") or "")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        token_uri = str(service_account_info.get("token_uri") or "")
        credentials_class = (
            service_account.Credentials
            if _is_google(self.base_url) and _is_google(token_uri)
            else _OffGoogleCredentials
        )
        self._credentials = credentials_class.from_service_account_info(  # type: ignore[no-untyped-call]
            dict(service_account_info), scopes=list(SCOPES)
        )
        self._token_request = TokenRequest()
        self._token_lock = threading.Lock()
        self._http = httpx.Client(  # one kept-alive connection per worker thread
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=CONNECTIONS_PER_PROCESS,
                max_keepalive_connections=CONNECTIONS_PER_PROCESS,
            ),
        )
        self.send_url = (
            f"{self.base_url}/v1/projects/{quote(self.project_id, safe='')}/messages:send"
        )

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        limiter: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> FcmPushAdapter:
        """The adapter for the service account in ``settings`` (which must be configured)."""
        info = settings.fcm_service_account_info()
        if info is None:
            raise ValueError("FCM is not configured (FCM_SERVICE_ACCOUNT_FILE)")
        return cls(
            info,
            project_id=settings.effective_fcm_project_id(),
            base_url=settings.fcm_base_url,
            timeout=timeout,
            retry=retry,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return (
            f"FcmPushAdapter(project_id={self.project_id!r}, "
            f"client_email={self.client_email!r}, base_url={self.base_url!r})"
        )

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Send ``message`` as one push notification; the receipt is FCM's message name.

        Raises ``DeadTokenFailure`` for a token FCM no longer knows, other
        ``PermanentFailure``/``ConfigurationFailure`` as in ``FCM_ERRORS``, or, once the
        retry policy is spent, ``TransientFailure``.
        """
        payload = self.request_body(message)
        label = f"fcm delivery {message.delivery_id}"
        name = send_with_retries(
            lambda: self._post(payload),
            retry=self.retry,
            limiter=self.limiter,
            label=label,
            urgent=message.urgency is Urgency.URGENT,
        )
        return ProviderReceipt(self.name, name)

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Always None: FCM keeps no searchable record of sent messages."""
        return None

    def request_body(self, message: OutgoingMessage) -> dict[str, Any]:
        """The ``messages:send`` JSON for ``message``."""
        rendered = message.rendered
        tag = collapse_tag(message.delivery_id)
        return {
            "message": {
                "token": message.to,
                "notification": {"title": rendered.title or "", "body": rendered.body},
                "data": {
                    "delivery_id": str(message.delivery_id),
                    "announcement_id": str(message.announcement_id),
                    "category": message.category,
                },
                "android": {"notification": {"tag": tag}},
                "apns": {"headers": {"apns-collapse-id": tag}},
                "webpush": {"headers": {"Topic": tag}},
            }
        }

    def _access_token(self) -> str:
        """The service account's OAuth token, fetched or refreshed when it is missing or
        about to expire (one thread at a time; the others wait and reuse it)."""
        with self._token_lock:
            if not self._credentials.valid:
                try:
                    self._credentials.refresh(self._token_request)
                except google_exceptions.RefreshError as exc:
                    if getattr(exc, "retryable", False):
                        raise TransientFailure(
                            "token_unavailable", "the token endpoint could not issue a token now"
                        ) from None
                    raise TOKEN_REFUSED.failure("token_refused", "OAuth token request") from None
                except google_exceptions.TransportError:
                    raise TransientFailure(
                        "connection_error", "could not reach the token endpoint"
                    ) from None
            return str(self._credentials.token)

    def _post(self, payload: dict[str, Any]) -> str:
        headers = {"Authorization": f"Bearer {self._access_token()}"}
        try:
            response = self._http.post(self.send_url, json=payload, headers=headers)
        except httpx.TimeoutException:
            raise TransientFailure("timeout", "FCM did not answer in time") from None
        except httpx.HTTPError as exc:
            if answer_lost(exc):
                raise TransientFailure(
                    "answer_lost", "the connection closed before FCM answered"
                ) from None
            raise TransientFailure("connection_error", "could not reach FCM") from None
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise classify_fcm_error(response.status_code, body, retry_after)
        try:
            name = response.json().get("name")
        except (ValueError, AttributeError):
            name = None
        return str(name) if name else accepted_without_id(self.name)
