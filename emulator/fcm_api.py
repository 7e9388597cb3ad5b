"""Firebase Cloud Messaging HTTP v1: ``POST /v1/projects/{project}/messages:send``.

The bearer token must be one the emulator's ``/token`` endpoint issued, still live and with
an FCM scope. The body ``{"message": {...}, "validate_only"?}`` is checked (known fields,
exactly one of token/topic/condition, string ``data`` values) and answered 200
``{"name": "projects/{project}/messages/{id}"}``. Errors carry Google's body ``{"error":
{"code", "message", "status", "details"}}`` with an ``FcmError`` detail naming the
``errorCode``; see https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from emulator.failures import FailureBook, FailureRule
from emulator.ids import hex_id
from emulator.messages import Incoming, Reply, drop_answer, hang_reply, json_reply
from emulator.oauth_api import FCM_SCOPES, OAuthApi

SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
MESSAGE_FIELDS = frozenset(
    [
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "topic",
        "condition",
    ]
)
NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})

#: FCM error codes: errorCode -> (HTTP status, Google status, message).
FCM_ERRORS: dict[str, tuple[int, str, str]] = {
    "UNSPECIFIED_ERROR": (500, "INTERNAL", "Internal error encountered."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for the project."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push."),
}
CODE_FOR_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "SENDER_ID_MISMATCH",
    404: "UNREGISTERED",
    429: "QUOTA_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def google_error(
    status: int,
    message: str,
    google_status: str | None = None,
    error_code: str | None = None,
    violations: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Google's error body; ``error_code`` adds the FcmError detail, ``violations`` a
    ``BadRequest`` detail with (field, description) pairs.
    """
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if violations:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": f, "description": d} for f, d in violations],
            }
        )
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": google_status or GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


class FcmInvalid(Exception):
    """A request the FCM API rejects as INVALID_ARGUMENT."""

    def __init__(self, message: str, field: str | None = None, fcm: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.fcm = fcm


def validate_send(body: Any) -> dict[str, Any]:
    """Return the message of a valid send request, or raise ``FcmInvalid``."""
    if not isinstance(body, dict):
        raise FcmInvalid("Invalid JSON payload received.", fcm=False)
    for name in body:
        if name not in ("message", "validate_only"):
            raise FcmInvalid(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.',
                fcm=False,
            )
    message = body.get("message")
    if not isinstance(message, dict):
        raise FcmInvalid("Request contains an invalid argument.", "message")
    for name in message:
        if name not in MESSAGE_FIELDS:
            raise FcmInvalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at 'message': "
                "Cannot find field.",
                fcm=False,
            )
    targets = [name for name in ("token", "topic", "condition") if message.get(name) is not None]
    if len(targets) != 1:
        raise FcmInvalid(
            "Request contains an invalid argument.",
            "message",
        )
    target = message[targets[0]]
    if not isinstance(target, str) or not target.strip():
        raise FcmInvalid(
            "The registration token is not a valid FCM registration token",
            f"message.{targets[0]}",
        )
    data = message.get("data")
    if data is not None:
        if not isinstance(data, dict):
            raise FcmInvalid("Request contains an invalid argument.", "message.data")
        for i, (key, value) in enumerate(data.items()):
            if not isinstance(value, str):
                raise FcmInvalid(
                    f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value!r}",
                    f"message.data[{i}].value",
                )
            if not isinstance(key, str) or not key:
                raise FcmInvalid("Request contains an invalid argument.", "message.data")
    notification = message.get("notification")
    if notification is not None:
        if not isinstance(notification, dict):
            raise FcmInvalid("Request contains an invalid argument.", "message.notification")
        for name, value in notification.items():
            if name not in NOTIFICATION_FIELDS:
                raise FcmInvalid(
                    f'Invalid JSON payload received. Unknown name "{name}" at '
                    "'message.notification': Cannot find field.",
                    fcm=False,
                )
            if not isinstance(value, str):
                raise FcmInvalid(
                    "Request contains an invalid argument.", f"message.notification.{name}"
                )
    return message


class FcmApi:
    """The FCM v1 send endpoint of one Firebase project."""

    provider = "fcm"

    def __init__(self, project_id: str, oauth: OAuthApi, failures: FailureBook) -> None:
        self.project_id = project_id
        self._oauth = oauth
        self._failures = failures

    def handle(self, req: Incoming) -> Reply:
        """Answer one request under ``/v1/``."""
        header = req.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        scopes = self._oauth.scopes_of(token.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            return json_reply(
                self.provider,
                401,
                google_error(401, UNAUTHENTICATED_MESSAGE),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        match = SEND_PATH.match(req.path)
        if match is None:
            return json_reply(self.provider, 404, google_error(404, "Not Found"))
        if req.method != "POST":
            return json_reply(self.provider, 405, google_error(405, "Method Not Allowed"))
        if not scopes & FCM_SCOPES:
            return json_reply(
                self.provider,
                403,
                google_error(403, "Request had insufficient authentication scopes."),
            )
        if match["project"] != self.project_id:
            return json_reply(
                self.provider,
                403,
                google_error(
                    403,
                    "Permission 'cloudmessaging.messages.create' denied on resource "
                    f"'//cloudresourcemanager.googleapis.com/projects/{match['project']}' "
                    "(or it may not exist).",
                ),
            )
        try:
            body = json.loads(req.body)
        except ValueError:
            return json_reply(
                self.provider, 400, google_error(400, "Invalid JSON payload received.")
            )
        reply = self._send(body)
        reply.json = body
        return reply

    def _send(self, body: Any) -> Reply:
        try:
            message = validate_send(body)
        except FcmInvalid as exc:
            violations = [(exc.field, exc.message)] if exc.field else None
            code = "INVALID_ARGUMENT" if exc.fcm else None
            return json_reply(
                self.provider, 400, google_error(400, exc.message, None, code, violations)
            )
        recipients = [str(message[n]) for n in ("token", "topic", "condition") if n in message]
        rule = self._failures.take(self.provider, recipients)
        if rule is not None and not rule.drop_answer:
            return self.rule_reply(rule)
        if body.get("validate_only"):
            message_id = "fake_message_id"
        else:
            message_id = f"0:{int(time.time() * 1_000_000)}%{hex_id(16)}"
        reply = json_reply(
            self.provider, 200, {"name": f"projects/{self.project_id}/messages/{message_id}"}
        )
        if rule is not None:
            drop_answer(reply, rule.hang_seconds if rule.timeout else None)
        return reply

    def rule_reply(self, rule: FailureRule) -> Reply:
        """The answer a failure rule asks for, in FCM's shape."""
        if rule.timeout:
            return hang_reply(self.provider, rule.hang_seconds)
        code = str(rule.code) if rule.code is not None else None
        status = rule.status
        if status is None and code is None and rule.to is not None:
            code = "UNREGISTERED"
        if status is None:
            status = FCM_ERRORS[code][0] if code in FCM_ERRORS else 500
        if code is None and status != 401:
            code = CODE_FOR_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        if code in FCM_ERRORS and FCM_ERRORS[code][0] == status:
            _, google_status, message = FCM_ERRORS[code]
        else:
            google_status = GOOGLE_STATUS.get(status, "UNKNOWN")
            message = UNAUTHENTICATED_MESSAGE if status == 401 else "Emulated error."
        payload = google_error(status, message, google_status, code)
        return json_reply(self.provider, status, payload, rule.retry_after_header())
