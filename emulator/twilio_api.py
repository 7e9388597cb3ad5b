"""Twilio Programmable Messaging, as much as the ``twilio`` SDK uses to send an SMS.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic auth with
the account SID and auth token) answers 201 with a Message resource; ``GET
.../Messages/{Sid}.json`` fetches one. Errors carry Twilio's body
``{"code", "message", "more_info", "status"}`` with the codes Twilio documents at
https://www.twilio.com/docs/errors/{code}.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dispatcher.rendering.sms import segment_count
from emulator.failures import FailureBook, FailureRule
from emulator.ids import hex_id
from emulator.messages import Incoming, Reply, drop_answer, hang_reply, json_reply

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
MAX_BODY_CHARACTERS = 1600
#: The number a Messaging Service "picks" when a message names no From.
POOL_NUMBER = "+15005550006"

#: Twilio error codes the emulator knows: code -> (HTTP status, message).
TWILIO_ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21212: (400, "Invalid From Number (caller ID)"),
    21408: (
        400,
        "Permission to send an SMS has not been enabled for the region indicated "
        "by the 'To' number",
    ),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."),
    21604: (400, "A 'To' phone number is required."),
    21609: (400, "Invalid StatusCallback url"),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21705: (400, "The Messaging Service Sid is invalid."),
}
#: The code a failure rule gives when it names only an HTTP status.
CODE_FOR_STATUS = {400: 21211, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
#: Status values a Message can take (and so a status callback can report).
MESSAGE_STATUSES = frozenset(
    [
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "accepted",
        "scheduled",
        "canceled",
        "receiving",
        "received",
    ]
)


def twilio_error(status: int, code: int, message: str | None = None) -> dict[str, Any]:
    """Twilio's error body for ``code`` (its documented message unless one is given)."""
    return {
        "code": code,
        "message": message or TWILIO_ERRORS.get(code, (status, "Emulated error"))[1],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


@dataclass
class _Stored:
    resource: dict[str, Any]
    status_callback: str | None


class TwilioApi:
    """The Messages resource of one Twilio account."""

    provider = "twilio"

    def __init__(self, account_sid: str, auth_token: str, failures: FailureBook) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._failures = failures
        self._lock = threading.Lock()
        self._messages: dict[str, _Stored] = {}

    def clear(self) -> None:
        """Forget every stored message."""
        with self._lock:
            self._messages.clear()

    def handle(self, req: Incoming) -> Reply:
        """Answer one request under ``/2010-04-01/``."""
        if not self._authenticated(req):
            return self._error(401, 20003, headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        list_match = MESSAGES_PATH.match(req.path)
        one_match = MESSAGE_PATH.match(req.path)
        match = list_match or one_match
        if match is None or match["account"] != self.account_sid:
            return self._error(404, 20404, f"The requested resource {req.path} was not found")
        if list_match and req.method == "POST":
            return self._create(req)
        if one_match and req.method == "GET":
            return self._fetch(req, one_match["sid"])
        return self._error(405, 20004, "Method not allowed")

    def _authenticated(self, req: Incoming) -> bool:
        header = req.header("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def _error(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Reply:
        reply = json_reply(self.provider, status, twilio_error(status, code, message), headers)
        reply.form = form
        return reply

    def _create(self, req: Incoming) -> Reply:
        parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        form = {name: values[0] for name, values in parsed.items()}
        problem = self._validate(form)
        if problem is not None:
            code, message = problem
            return self._error(400, code, message, form=form)
        rule = self._failures.take(self.provider, [form["To"]])
        if rule is not None and not rule.drop_answer:
            reply = self.rule_reply(rule)
            reply.form = form
            return reply
        resource = self._store(form)
        reply = json_reply(self.provider, 201, resource)
        reply.form = form
        if rule is not None:
            drop_answer(reply, rule.hang_seconds if rule.timeout else None)
        return reply

    def _validate(self, form: dict[str, str]) -> tuple[int, str] | None:
        to = form.get("To", "")
        sender = form.get("From", "")
        service = form.get("MessagingServiceSid", "")
        body = form.get("Body", "")
        if not to:
            return 21604, TWILIO_ERRORS[21604][1]
        if not sender and not service:
            return 21603, TWILIO_ERRORS[21603][1]
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 21602, TWILIO_ERRORS[21602][1]
        if not E164.match(to):
            return 21211, f"Invalid 'To' Phone Number: {to}"
        if sender and not (E164.match(sender) or ALPHANUMERIC_SENDER.match(sender)):
            return 21212, (
                f"The 'From' number {sender} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID."
            )
        if service and not MESSAGING_SERVICE_SID.match(service):
            return 21705, TWILIO_ERRORS[21705][1]
        if len(body) > MAX_BODY_CHARACTERS:
            return 21617, TWILIO_ERRORS[21617][1]
        callback = form.get("StatusCallback")
        if callback:
            parts = urlsplit(callback)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return 21609, TWILIO_ERRORS[21609][1]
        return None

    def rule_reply(self, rule: FailureRule) -> Reply:
        """The answer a failure rule asks for, in Twilio's shape."""
        if rule.timeout:
            return hang_reply(self.provider, rule.hang_seconds)
        code = int(rule.code) if rule.code is not None else None
        status = rule.status
        if status is None and code is None and rule.to is not None:
            status, code = 400, 21211
        if status is None:
            status = TWILIO_ERRORS[code][0] if code in TWILIO_ERRORS else 500
        if code is None:
            code = CODE_FOR_STATUS.get(status, 20500 if status >= 500 else 21211)
        return json_reply(
            self.provider, status, twilio_error(status, code), rule.retry_after_header()
        )

    def _store(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + hex_id(32)
        now = _now_rfc2822()
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        resource: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(segment_count(body)) if body else "0",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # Twilio: "queued" for a message with a From number, "accepted" when a
            # Messaging Service will choose the sender.
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }
        with self._lock:
            self._messages[sid] = _Stored(dict(resource), form.get("StatusCallback") or None)
        return resource

    def _fetch(self, req: Incoming, sid: str) -> Reply:
        with self._lock:
            stored = self._messages.get(sid)
            resource = dict(stored.resource) if stored else None
        if resource is None:
            return self._error(404, 20404, f"The requested resource {req.path} was not found")
        return json_reply(self.provider, 200, resource)

    def status_update(
        self, message_sid: str, status: str, error_code: str | None
    ) -> tuple[str, dict[str, str]]:
        """Move message ``message_sid`` to ``status`` and return its StatusCallback URL and
        the form parameters Twilio would POST there. Raises LookupError for an unknown
        message or one sent without a StatusCallback, ValueError for an unknown status.
        """
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"status: expected one of {', '.join(sorted(MESSAGE_STATUSES))}")
        with self._lock:
            stored = self._messages.get(message_sid)
            if stored is None:
                raise LookupError(f"no message {message_sid} was sent to the emulator")
            if stored.status_callback is None:
                raise LookupError(f"message {message_sid} was sent without a StatusCallback")
            now = _now_rfc2822()
            resource = stored.resource
            resource["status"] = status
            resource["date_updated"] = now
            if status in ("sent", "delivered", "undelivered") and not resource["date_sent"]:
                resource["date_sent"] = now
            if error_code is not None:
                resource["error_code"] = int(error_code)
            url = stored.status_callback
            sender = resource["from"] or POOL_NUMBER
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": sender,
                "MessageSid": message_sid,
                "MessageStatus": status,
                "SmsSid": message_sid,
                "SmsStatus": status,
                "To": resource["to"],
            }
            if resource["messaging_service_sid"]:
                params["MessagingServiceSid"] = resource["messaging_service_sid"]
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            if status in ("delivered", "undelivered"):
                params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
        return url, params
