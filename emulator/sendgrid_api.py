"""SendGrid v3 Mail Send, as much as the ``sendgrid`` SDK uses.

``POST /v3/mail/send`` with ``Authorization: Bearer <API key>`` and a JSON body is checked
against the documented rules (personalizations 1..1000 with a ``to`` each, at most 1000
recipients, a ``from`` address, a subject unless a template gives one, content blocks with
text/plain first, substitutions as strings within 10,000 bytes a personalization) and
answered 202 with an empty body and an ``X-Message-Id`` header. Errors
carry SendGrid's body ``{"errors": [{"message", "field", "help"}]}``; see
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any

from emulator.failures import FailureBook, FailureRule
from emulator.ids import urlsafe_id
from emulator.messages import Incoming, Reply, drop_answer, hang_reply, json_reply

SEND_PATH = "/v3/mail/send"
MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CATEGORIES = 10
MAX_SUBSTITUTION_BYTES = 10_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.{}"
RECIPIENT_FIELDS = ("to", "cc", "bcc")

#: The message a failure rule gives when it names only an HTTP status.
MESSAGE_FOR_STATUS = {
    400: "Does not contain a valid address.",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    404: "not found",
    413: "The JSON payload you have included in your request is too large.",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


class SendGridError(Exception):
    """A validation error: its message and the field it is about (None: the request)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def sendgrid_error(message: str, field: str | None = None) -> dict[str, Any]:
    """SendGrid's error body with one error."""
    help_url = HELP.format(field.split(".")[0]) if field else None
    return {"errors": [{"message": message, "field": field, "help": help_url}]}


def recipients_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (field path, address) a mail send names, e.g. ``("personalizations.0.to.0",
    "a@example.com")``, in order.
    """
    found: list[tuple[str, str]] = []
    for i, personalization in enumerate(body.get("personalizations") or []):
        if not isinstance(personalization, dict):
            continue
        for name in RECIPIENT_FIELDS:
            for j, address in enumerate(personalization.get(name) or []):
                if isinstance(address, dict) and isinstance(address.get("email"), str):
                    found.append((f"personalizations.{i}.{name}.{j}", address["email"]))
    return found


def _check_address(value: Any, field: str, what: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("email"), str):
        raise SendGridError(
            f"The {what} object must be provided for every email send. It is an object that "
            "requires an email parameter, but may also contain a name parameter.",
            field,
        )
    if not EMAIL.match(value["email"]):
        raise SendGridError(f"The {what} email does not contain a valid address.", f"{field}.email")


def _check_strings(value: Any, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise SendGridError("Invalid type. Expected: object.", field)
    for key, item in value.items():
        if not isinstance(item, str):
            raise SendGridError(
                f"Invalid type. Expected: string, given: {type(item).__name__}.",
                f"{field}.{key}",
            )


def _check_personalization(i: int, item: Any, has_subject: bool) -> int:
    field = f"personalizations.{i}"
    if not isinstance(item, dict):
        raise SendGridError("Invalid type. Expected: object.", field)
    to = item.get("to")
    if not isinstance(to, list) or not to:
        raise SendGridError(
            "The to parameter is required for all personalization objects, and must have at "
            "least one email object with a valid email address.",
            f"{field}.to",
        )
    seen: set[str] = set()
    count = 0
    for name in RECIPIENT_FIELDS:
        addresses = item.get(name)
        if addresses is None:
            continue
        if not isinstance(addresses, list):
            raise SendGridError("Invalid type. Expected: array.", f"{field}.{name}")
        for j, address in enumerate(addresses):
            where = f"{field}.{name}.{j}"
            if not isinstance(address, dict) or not isinstance(address.get("email"), str):
                raise SendGridError(
                    f"Each {name} object must at least have an email address and may also "
                    "contain a name.",
                    where,
                )
            email = address["email"]
            if not EMAIL.match(email):
                raise SendGridError("Does not contain a valid address.", f"{where}.email")
            if email.lower() in seen:
                raise SendGridError(
                    "Each email address in the personalization block should be unique between "
                    "to, cc, and bcc.",
                    field,
                )
            seen.add(email.lower())
            count += 1
    if not has_subject and not (isinstance(item.get("subject"), str) and item["subject"]):
        raise SendGridError(
            "The subject is required. You can get around this requirement if you use a "
            "template with a subject defined or if every personalization has a subject "
            "defined.",
            "subject",
        )
    _check_strings(item.get("custom_args"), f"{field}.custom_args")
    _check_strings(item.get("headers"), f"{field}.headers")
    substitutions = item.get("substitutions")
    _check_strings(substitutions, f"{field}.substitutions")
    if substitutions:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())
        if size > MAX_SUBSTITUTION_BYTES:
            raise SendGridError(
                "The total collective size of your substitutions may not exceed 10,000 bytes "
                "per personalization object.",
                f"{field}.substitutions",
            )
    return count


def _check_content(content: Any) -> None:
    if not isinstance(content, list) or not content:
        raise SendGridError(
            "Unless a valid template_id is provided, the content parameter is required. There "
            "must be at least one defined content block.",
            "content",
        )
    types: list[str] = []
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SendGridError("The content type must be a string.", f"content.{i}.type")
        value = block.get("value")
        if not isinstance(value, str) or not value:
            raise SendGridError(
                "The content value must be a string at least one character in length.",
                f"content.{i}.value",
            )
        types.append(block["type"].lower())
    if "text/plain" in types and types[0] != "text/plain":
        raise SendGridError(
            "If present, text/plain content must be first, followed by text/html, followed by "
            "any other content.",
            "content",
        )


def validate_mail(body: Any) -> None:
    """Raise ``SendGridError`` for the first rule of v3 Mail Send that ``body`` breaks."""
    if not isinstance(body, dict):
        raise SendGridError("Bad Request", None)
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise SendGridError("You must have at least one personalization.", "personalizations")
    if len(personalizations) > MAX_PERSONALIZATIONS:
        raise SendGridError(
            "The personalization block is limited to 1000 personalizations per API request. "
            f"You have provided {len(personalizations)} personalizations. Please consider "
            "splitting this into multiple requests and resending your request.",
            "personalizations",
        )
    _check_address(body.get("from"), "from", "from")
    if body.get("reply_to") is not None:
        _check_address(body["reply_to"], "reply_to", "reply_to")
    templated = bool(body.get("template_id"))
    has_subject = templated or (isinstance(body.get("subject"), str) and bool(body["subject"]))
    total = sum(
        _check_personalization(i, item, has_subject) for i, item in enumerate(personalizations)
    )
    if total > MAX_RECIPIENTS:
        raise SendGridError(
            "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
            "personalizations",
        )
    if not templated or body.get("content") is not None:
        _check_content(body.get("content"))
    _check_strings(body.get("custom_args"), "custom_args")
    _check_strings(body.get("headers"), "headers")
    categories = body.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
            raise SendGridError("Too many categories. Maximum is 10.", "categories")
        for i, category in enumerate(categories):
            if not isinstance(category, str) or len(category) > 255:
                raise SendGridError(
                    "A category cannot be more than 255 characters.", f"categories.{i}"
                )


def substituted(text: str, substitutions: dict[str, str]) -> str:
    """``text`` with every substitution tag replaced by its value, as SendGrid does for a
    personalization's ``substitutions`` (in the subject and every content block)."""
    for tag, value in substitutions.items():
        text = text.replace(tag, value)
    return text


def delivered_emails(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The emails an accepted mail send delivers: one per personalization, with its ``to``
    addresses, ``subject``, ``content`` blocks (``{type: value}``), ``custom_args`` and
    ``headers``, substitutions applied."""
    emails: list[dict[str, Any]] = []
    for personalization in body.get("personalizations") or []:
        values = personalization.get("substitutions") or {}
        subject = personalization.get("subject", body.get("subject")) or ""
        emails.append(
            {
                "to": [a["email"] for a in personalization.get("to") or []],
                "subject": substituted(subject, values),
                "content": {
                    block["type"]: substituted(block["value"], values)
                    for block in body.get("content") or []
                },
                "custom_args": {
                    **(body.get("custom_args") or {}),
                    **(personalization.get("custom_args") or {}),
                },
                "headers": {
                    **(body.get("headers") or {}),
                    **(personalization.get("headers") or {}),
                },
            }
        )
    return emails


class SendGridApi:
    """The Mail Send endpoint of one SendGrid account."""

    provider = "sendgrid"

    def __init__(self, api_key: str, failures: FailureBook) -> None:
        self.api_key = api_key
        self._failures = failures
        self._lock = threading.Lock()
        self._sent: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        """Forget every accepted send."""
        with self._lock:
            self._sent.clear()

    def message_ids(self) -> list[str]:
        """The ``X-Message-Id`` of every accepted send, oldest first."""
        with self._lock:
            return list(self._sent)

    def handle(self, req: Incoming) -> Reply:
        """Answer one request under ``/v3/``."""
        header = req.header("Authorization")
        if not header:
            return json_reply(self.provider, 401, sendgrid_error("authorization required"))
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(key.strip(), self.api_key):
            return json_reply(self.provider, 401, sendgrid_error(MESSAGE_FOR_STATUS[401]))
        if req.path != SEND_PATH:
            return json_reply(self.provider, 404, sendgrid_error("not found"))
        if req.method != "POST":
            return json_reply(self.provider, 405, sendgrid_error("method not allowed"))
        if req.size > MAX_BODY_BYTES:
            return json_reply(self.provider, 413, sendgrid_error(MESSAGE_FOR_STATUS[413]))
        try:
            body = json.loads(req.body)
        except ValueError:
            return json_reply(self.provider, 400, sendgrid_error("Bad Request"))
        try:
            validate_mail(body)
        except SendGridError as exc:
            reply = json_reply(self.provider, 400, sendgrid_error(exc.message, exc.field))
            reply.json = body
            return reply
        recipients = recipients_of(body)
        rule = self._failures.take(self.provider, [address for _, address in recipients])
        if rule is not None and not rule.drop_answer:
            reply = self.rule_reply(rule, recipients)
        else:
            message_id = urlsafe_id(22)
            with self._lock:
                self._sent[message_id] = body
            reply = Reply(
                self.provider, 202, content_type=None, headers={"X-Message-Id": message_id}
            )
            if rule is not None:
                drop_answer(reply, rule.hang_seconds if rule.timeout else None)
        reply.json = body
        return reply

    def rule_reply(self, rule: FailureRule, recipients: list[tuple[str, str]]) -> Reply:
        """The answer a failure rule asks for, in SendGrid's shape (a rule for one address
        names that address's field).
        """
        if rule.timeout:
            return hang_reply(self.provider, rule.hang_seconds)
        status = rule.status
        if status is None:
            status = 400 if rule.code is not None or rule.to is not None else 500
        default = MESSAGE_FOR_STATUS.get(status, "internal server error" if status >= 500 else "")
        message = str(rule.code) if rule.code is not None else default
        field: str | None = None
        if rule.to is not None:
            field = next(
                (f"{path}.email" for path, addr in recipients if addr.lower() == rule.to.lower()),
                None,
            )
        return json_reply(
            self.provider, status, sendgrid_error(message, field), rule.retry_after_header()
        )

    def events_for(
        self, message_id: str, event: str, extra: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Event Webhook events for every recipient of accepted send ``message_id``, shaped as
        SendGrid posts them: ``email``, ``timestamp``, ``event``, ``sg_event_id``,
        ``sg_message_id`` (the X-Message-Id plus a suffix), ``smtp-id``, ``category`` and the
        send's ``custom_args`` at the top level, then ``extra``. Raises LookupError for an
        unknown id.
        """
        with self._lock:
            body = self._sent.get(message_id)
        if body is None:
            raise LookupError(f"no accepted SendGrid send has X-Message-Id {message_id}")
        now = int(time.time())
        top_args = body.get("custom_args") or {}
        events: list[dict[str, Any]] = []
        for n, (path, address) in enumerate(recipients_of(body)):
            personalization = body["personalizations"][int(path.split(".")[1])]
            event_data: dict[str, Any] = {
                "email": address,
                "timestamp": now,
                "event": event,
                "sg_event_id": urlsafe_id(22),
                "sg_message_id": f"{message_id}.emulator-{n}.{now}.0",
                "smtp-id": f"<{message_id}@emulator.sendgrid.invalid>",
            }
            if body.get("categories"):
                event_data["category"] = list(body["categories"])
            event_data.update(top_args)
            event_data.update(personalization.get("custom_args") or {})
            event_data.update(extra)
            events.append(event_data)
        return events
