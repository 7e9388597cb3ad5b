"""Email through SendGrid's v3 Mail Send API, with the official ``sendgrid`` SDK.

``SendGridAPIClient(api_key, host=base_url)`` and ``client.mail.send.post`` (the SDK's request
builder, with a per-request timeout) send ``POST {base_url}/v3/mail/send``:

- ``from`` = the school's ``from_email``, ``reply_to`` = its ``reply_to``, the rendered
  ``subject``, a ``text/plain`` part (first, as SendGrid requires) and a ``text/html`` part;
- ``categories`` = ``[school slug, category]`` for SendGrid's own statistics;
- ``custom_args`` ``{"delivery_id", "announcement_id"}`` on each personalization, so every
  Event Webhook event names its delivery;
- a ``List-Unsubscribe: <mailto:{reply_to}?subject=unsubscribe%20{category}>`` header only
  for categories whose policy lets families opt out (``unsubscribable_categories``).

``send_batch`` sends deliveries whose content is the same (sender, subject, text and HTML,
category) once each family's own values, ``OutgoingMessage.personal`` (the contact's first
name, the pupils' names), are replaced by substitution tags (``channels.substitutions``) as
personalizations of one request, up to SendGrid's 1,000, each with its own ``to``,
``delivery_id`` and ``substitutions``: every family receives exactly the message rendered
for it. An address appears once per request (SendGrid refuses repeats); a request of one
delivery carries its message as rendered. Every delivery still gets its own receipt,
``{X-Message-Id}.{delivery_id}`` (the same form ``send`` uses), or its own error.

Errors (``SENDGRID_ERRORS``, from
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send#responses): 400 naming
a recipient's address (``personalizations.N.to.M.email``) is ``PermanentFailure
("invalid_email")`` for that delivery (in a batch, the other deliveries are sent again without
it); any other 400 and 413 are permanent; 401/403 are ``ConfigurationFailure`` (the API key,
its permissions or the verified sender identity: the caller stops the channel); 429 (with
``Retry-After``) and 5xx are transient, as are timeouts and connection errors.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Final
from urllib.parse import quote

from pydantic import SecretStr
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from dispatcher.channels.base import (
    ChannelError,
    ConfigurationFailure,
    OutgoingMessage,
    ProviderReceipt,
    TransientFailure,
)
from dispatcher.channels.errors import ErrorRule, FailureKind, answer_lost
from dispatcher.channels.rate_limit import RateLimit
from dispatcher.channels.retry import (
    RetryPolicy,
    accepted_without_id,
    parse_retry_after,
    send_with_retries,
)
from dispatcher.channels.settings import DEFAULT_SENDGRID_BASE_URL, ProviderSettings, protect_logs
from dispatcher.channels.substitutions import tag_personal
from dispatcher.domain import Urgency

log = logging.getLogger("channels.sendgrid")

DOCS: Final = "https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send#responses"
#: SendGrid's limit of personalizations (and recipients) per request.
MAX_PERSONALIZATIONS: Final = 1000

_P, _C, _T = FailureKind.PERMANENT, FailureKind.CONFIGURATION, FailureKind.TRANSIENT

#: SendGrid's Mail Send answers by HTTP status (SendGrid has no finer codes); the failure
#: codes are ours.
SENDGRID_ERRORS: Final[Mapping[int, tuple[str, ErrorRule]]] = {
    400: ("bad_request", ErrorRule(_P, "SendGrid rejected the request as invalid", DOCS)),
    401: ("unauthorized", ErrorRule(_C, "the SendGrid API key was refused", DOCS)),
    403: (
        "forbidden",
        ErrorRule(
            _C,
            "SendGrid forbids this send (API key permissions, unverified sender identity, "
            "or a temporary block after repeated bad requests)",
            DOCS,
        ),
    ),
    404: ("not_found", ErrorRule(_C, "the Mail Send endpoint was not found (base URL)", DOCS)),
    413: ("payload_too_large", ErrorRule(_P, "the message is larger than SendGrid takes", DOCS)),
    429: ("rate_limited", ErrorRule(_T, "too many requests", DOCS)),
    500: ("server_error", ErrorRule(_T, "SendGrid internal server error", DOCS)),
    503: ("unavailable", ErrorRule(_T, "SendGrid is unavailable", DOCS)),
}
#: A 400 whose error names a recipient's address.
INVALID_EMAIL: Final = ErrorRule(_P, "the recipient's email address is invalid", DOCS)

_RECIPIENT_FIELD: Final = re.compile(r"^personalizations\.(\d+)\.(?:to|cc|bcc)\.\d+\.email$")


def classify_sendgrid_error(status: int, retry_after: float | None = None) -> ChannelError:
    """The failure for a SendGrid error answer with HTTP ``status`` (not naming an address):
    by ``SENDGRID_ERRORS``, else 5xx transient, 401/403 configuration, other 4xx permanent."""
    entry = SENDGRID_ERRORS.get(status)
    if entry is None:
        if status >= 500:
            entry = (f"http_{status}", SENDGRID_ERRORS[500][1])
        elif status in (401, 403):
            entry = (f"http_{status}", SENDGRID_ERRORS[status][1])
        else:
            entry = (f"http_{status}", SENDGRID_ERRORS[400][1])
    code, rule = entry
    return rule.failure(code, f"HTTP {status}", retry_after)


def invalid_recipients(body: bytes | str | None) -> set[int]:
    """Indexes of the personalizations a SendGrid 400 body says hold an invalid address."""
    try:
        parsed = json.loads(body or b"")
    except ValueError:
        return set()
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    found: set[int] = set()
    for error in errors if isinstance(errors, list) else []:
        field = error.get("field") if isinstance(error, dict) else None
        match = _RECIPIENT_FIELD.match(field) if isinstance(field, str) else None
        if match:
            found.add(int(match.group(1)))
    return found


class _RequestRejected(Exception):
    """A 400 naming invalid recipients: which personalizations, so a batch can go again."""

    def __init__(self, indexes: set[int]) -> None:
        super().__init__("invalid recipients")
        self.indexes = indexes


@dataclass(frozen=True)
class _Content:
    """What must be equal for deliveries to share one request."""

    from_email: str
    reply_to: str
    subject: str
    text: str
    html: str | None
    school_slug: str
    category: str


def _content(message: OutgoingMessage) -> _Content:
    rendered = message.rendered
    return _Content(
        from_email=message.from_email,
        reply_to=message.reply_to,
        subject=rendered.subject or rendered.title or "",
        text=rendered.body,
        html=rendered.html,
        school_slug=message.school_slug,
        category=message.category,
    )


@dataclass(frozen=True)
class _Shared:
    """A message as it goes in a shared request: the content it shares with others (its
    recipient's own values as tags) and its substitutions."""

    message: OutgoingMessage
    content: _Content
    substitutions: dict[str, str]


def _shared(message: OutgoingMessage) -> _Shared:
    content = _content(message)
    tagged = (
        tag_personal((content.subject, content.text), content.html, message.personal)
        if message.personal
        else None
    )
    if tagged is None:
        return _Shared(message, content, {})
    subject, text = tagged.plain
    shared = replace(content, subject=subject, text=text, html=tagged.html)
    return _Shared(message, shared, tagged.substitutions)


class SendGridEmailAdapter:
    """Sends email through one SendGrid account (API key)."""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        base_url: str = DEFAULT_SENDGRID_BASE_URL,
        unsubscribable_categories: frozenset[str] = frozenset(),
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimit | None = None,
        confirms_by_callback: bool = False,
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        protect_logs([key])
        self.base_url = base_url.rstrip("/")
        self.unsubscribable_categories = frozenset(unsubscribable_categories)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._client = SendGridAPIClient(api_key=key.get_secret_value(), host=self.base_url)
        #: The account's Event Webhook reports every message it processed, with our
        #: ``delivery_id`` custom argument (it is set up when its verification key is).
        self.confirms_by_callback = confirms_by_callback

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        unsubscribable_categories: frozenset[str] = frozenset(),
        limiter: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> SendGridEmailAdapter:
        """The adapter for the SendGrid account in ``settings`` (which must be configured)."""
        if settings.sendgrid_api_key is None:
            raise ValueError("SendGrid is not configured (SENDGRID_API_KEY)")
        return cls(
            settings.sendgrid_api_key,
            base_url=settings.sendgrid_base_url,
            unsubscribable_categories=unsubscribable_categories,
            timeout=timeout,
            retry=retry,
            limiter=limiter,
            confirms_by_callback=settings.sendgrid_webhook_public_key is not None,
        )

    def __repr__(self) -> str:
        return (
            f"SendGridEmailAdapter(base_url={self.base_url!r}, "
            f"unsubscribable_categories={sorted(self.unsubscribable_categories)!r})"
        )

    # --- the channel interface ------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Send ``message`` as one email; the receipt is ``{X-Message-Id}.{delivery_id}``.

        Raises ``PermanentFailure("invalid_email")`` for an address SendGrid refuses, other
        ``PermanentFailure``/``ConfigurationFailure`` as in ``SENDGRID_ERRORS``, or, once the
        retry policy is spent, ``TransientFailure``.
        """
        result = self.send_batch([message])[message.delivery_id]
        if isinstance(result, ChannelError):
            raise result
        return result

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Always None: SendGrid's Mail Send cannot be searched by our delivery id; the Event
        Webhook (whose events carry it) and the sweep's grace period cover a lost receipt."""
        return None

    def send_batch(
        self, messages: Sequence[OutgoingMessage]
    ) -> dict[int, ProviderReceipt | ChannelError]:
        """Send ``messages``, sharing one request among deliveries with identical content;
        return each delivery's receipt or error, by delivery id.

        Never raises a ``ChannelError``: a failed request gives its error to each of its
        deliveries. After a ``ConfigurationFailure`` nothing more is sent: every delivery not
        yet sent gets that failure.
        """
        results: dict[int, ProviderReceipt | ChannelError] = {}
        stopped: ConfigurationFailure | None = None
        for chunk in self._requests(messages):
            if stopped is None:
                outcome = self._send_chunk(chunk)
                stopped = next(
                    (r for r in outcome.values() if isinstance(r, ConfigurationFailure)), None
                )
                results.update(outcome)
            else:
                results.update(dict.fromkeys((f.message.delivery_id for f in chunk), stopped))
        return results

    # --- building requests ----------------------------------------------------------------

    def _requests(self, messages: Iterable[OutgoingMessage]) -> list[list[_Shared]]:
        """Group by shared content; split groups at 1,000 and so that an address is once a
        request."""
        groups: dict[_Content, list[tuple[list[_Shared], set[str]]]] = {}
        for message in messages:
            form = _shared(message)
            chunks = groups.setdefault(form.content, [])
            address = message.to.lower()
            for chunk, addresses in chunks:
                if len(chunk) < MAX_PERSONALIZATIONS and address not in addresses:
                    chunk.append(form)
                    addresses.add(address)
                    break
            else:
                chunks.append(([form], {address}))
        return [chunk for chunks in groups.values() for chunk, _ in chunks]

    def request_body(self, messages: Sequence[OutgoingMessage]) -> dict[str, Any]:
        """The Mail Send JSON for ``messages``, which must share their content once each
        recipient's own values are tagged (one message is sent as rendered)."""
        return self._body([_shared(m) for m in messages])

    def _body(self, forms: Sequence[_Shared]) -> dict[str, Any]:
        substitutions: list[dict[str, str]]
        if len(forms) == 1:
            content, substitutions = _content(forms[0].message), [{}]
        else:
            content, substitutions = forms[0].content, [f.substitutions for f in forms]
            if any(f.content != content for f in forms):
                raise ValueError("messages of one request must share their content")
        parts = [{"type": "text/plain", "value": content.text}]
        if content.html:
            parts.append({"type": "text/html", "value": content.html})
        personalizations: list[dict[str, Any]] = []
        for form, values in zip(forms, substitutions, strict=True):
            personalization: dict[str, Any] = {
                "to": [{"email": form.message.to}],
                "custom_args": {
                    "delivery_id": str(form.message.delivery_id),
                    "announcement_id": str(form.message.announcement_id),
                },
            }
            if values:
                personalization["substitutions"] = values
            personalizations.append(personalization)
        body: dict[str, Any] = {
            "personalizations": personalizations,
            "from": {"email": content.from_email},
            "subject": content.subject,
            "content": parts,
            "categories": [content.school_slug, content.category],
        }
        if content.reply_to:
            body["reply_to"] = {"email": content.reply_to}
        unsubscribe = self.list_unsubscribe(content.category, content.reply_to)
        if unsubscribe:
            body["headers"] = {"List-Unsubscribe": unsubscribe}
        return body

    def list_unsubscribe(self, category: str, reply_to: str) -> str | None:
        """The ``List-Unsubscribe`` header for ``category``: a mailto to the school's reply-to
        asking to unsubscribe from the category; None where the category allows no opt-out."""
        if category not in self.unsubscribable_categories or not reply_to:
            return None
        return f"<mailto:{reply_to}?subject={quote(f'unsubscribe {category}')}>"

    # --- sending --------------------------------------------------------------------------

    def _send_chunk(self, chunk: list[_Shared]) -> dict[int, ProviderReceipt | ChannelError]:
        results: dict[int, ProviderReceipt | ChannelError] = {}
        pending = [form.message for form in chunk]
        forms = {form.message.delivery_id: form for form in chunk}
        while pending:
            body = self._body([forms[m.delivery_id] for m in pending])
            label = (
                f"sendgrid deliveries {pending[0].delivery_id}..{pending[-1].delivery_id}"
                if len(pending) > 1
                else f"sendgrid delivery {pending[0].delivery_id}"
            )
            try:
                message_id = send_with_retries(
                    partial(self._post, body),
                    retry=self.retry,
                    limiter=self.limiter,
                    label=label,
                    urgent=any(m.urgency is Urgency.URGENT for m in pending),
                )
            except _RequestRejected as rejected:
                bad = [m for i, m in enumerate(pending) if i in rejected.indexes]
                for message in bad:
                    results[message.delivery_id] = INVALID_EMAIL.failure(
                        "invalid_email", "HTTP 400"
                    )
                pending = [m for i, m in enumerate(pending) if i not in rejected.indexes]
                continue
            except ChannelError as exc:
                results.update(dict.fromkeys((m.delivery_id for m in pending), exc))
                return results
            for message in pending:
                results[message.delivery_id] = ProviderReceipt(
                    self.name, f"{message_id}.{message.delivery_id}"
                )
            return results
        return results

    def _post(self, body: dict[str, Any]) -> str:
        """One Mail Send request; the X-Message-Id, or a classified error."""
        try:
            response = self._client.client.mail.send.post(request_body=body, timeout=self.timeout)
        except HTTPError as exc:
            status = int(exc.status_code)
            if status == 400:
                indexes = invalid_recipients(exc.body)
                if indexes and all(0 <= i < len(body["personalizations"]) for i in indexes):
                    raise _RequestRejected(indexes) from None
            headers = exc.headers
            retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
            raise classify_sendgrid_error(status, retry_after) from None
        except TimeoutError:
            raise TransientFailure("timeout", "SendGrid did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            if "timed out" in str(exc):
                raise TransientFailure("timeout", "SendGrid did not answer in time") from None
            if answer_lost(exc):
                raise TransientFailure(
                    "answer_lost", "the connection closed before SendGrid answered"
                ) from None
            raise TransientFailure("connection_error", "could not reach SendGrid") from None
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        return str(message_id) if message_id else accepted_without_id(self.name)
