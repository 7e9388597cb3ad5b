"""SMS through Twilio's Programmable Messaging API, with the official ``twilio`` SDK.

One ``client.messages.create`` per message (``POST /2010-04-01/Accounts/{Sid}/Messages.json``):

- ``To``: the contact's E.164 number; ``Body``: the text exactly as measured at render time
  (``RenderedMessage.sms.text``);
- the sender: ``MessagingServiceSid`` when ``TWILIO_MESSAGING_SERVICE_SID`` is set, otherwise
  ``From`` = the school's alphanumeric sender id (``OutgoingMessage.sender_id``), otherwise
  ``TWILIO_FROM_NUMBER``;
- ``StatusCallback`` = ``{public_base_url}/webhooks/twilio/status?delivery_id={id}`` when a
  public base URL is configured, so the provider's status reports carry the delivery id.

**Base URL.** twilio-python builds every URL from its domain objects: ``Domain.absolute_url``
joins the domain's public ``base_url`` attribute (``https://api.twilio.com`` for
``client.api``) and the resource path. Setting ``client.api.base_url`` is therefore how this
adapter sends to ``TWILIO_BASE_URL`` (the emulator in tests) with the SDK's own request
building, auth, parameter names and error parsing. (``TWILIO_REGION``/``TWILIO_EDGE`` must not
be set together with a custom base URL: the SDK would rewrite its host name.)

**Errors** are classified by Twilio's error code (``TwilioRestException.code``) with
``TWILIO_ERRORS``, each row citing Twilio's page for the code; a code not in the table falls
back on the HTTP status (429 and 5xx transient, 401/403/404 configuration, any other 4xx
permanent: a request Twilio rejected is never retried blind). Timeouts and connection errors
(``requests`` exceptions) are transient. ``Retry-After`` on a 429 is honoured: the SDK's
exception does not carry headers, so the adapter's HTTP client (Twilio's documented extension
point, a ``TwilioHttpClient`` subclass) keeps the last response's ``Retry-After`` per thread.
Delivery failures Twilio reports later (30003 unreachable, 30005 unknown, 30006 landline...)
arrive by status callback, not here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

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
    CONNECTIONS_PER_PROCESS,
    RetryPolicy,
    accepted_without_id,
    parse_retry_after,
    send_with_retries,
)
from dispatcher.channels.settings import DEFAULT_TWILIO_BASE_URL, ProviderSettings, protect_logs
from dispatcher.domain import Urgency

log = logging.getLogger("channels.twilio")

_DOCS: Final = "https://www.twilio.com/docs/api/errors/{code}"


def _rule(kind: FailureKind, code: int, meaning: str) -> tuple[int, ErrorRule]:
    return code, ErrorRule(kind, meaning, _DOCS.format(code=code))


_P, _C, _T = FailureKind.PERMANENT, FailureKind.CONFIGURATION, FailureKind.TRANSIENT
_U = FailureKind.UNSUBSCRIBED

#: Twilio's send-time error codes, by what they mean for a delivery. Codes left out on
#: purpose: 21219 (documented for calls to unverified numbers) and 21407 (a number's
#: SmsUrl settings), which the Messages API does not return for a send; 30xxx delivery
#: errors, which come by status callback.
TWILIO_ERRORS: Final[Mapping[int, ErrorRule]] = dict(
    [
        # the recipient can never get this text: next channel
        _rule(_P, 21211, "invalid 'To' phone number"),
        _rule(_P, 21214, "'To' phone number cannot be reached"),
        _rule(_P, 21217, "phone number does not appear to be valid"),
        _rule(_P, 21265, "'To' number cannot be a short code"),
        _rule(_P, 21268, "sending to premium rate or information service numbers is not allowed"),
        _rule(_P, 21408, "sending to the 'To' number's region is not enabled (geo permissions)"),
        _rule(_P, 21602, "message body is required"),
        _rule(_P, 21604, "'To' phone number is required"),
        _rule(
            _P,
            21606,
            "'From' is not a message-capable Twilio number for this destination",
        ),
        _rule(_P, 21608, "'To' number is not verified for this (trial) account"),
        _rule(_U, 21610, "the recipient has unsubscribed (replied STOP)"),
        _rule(_P, 21612, "'To' number cannot be reached with this 'To'/'From' combination"),
        _rule(_P, 21614, "'To' number is not a valid mobile number"),
        _rule(_P, 21617, "message body exceeds the 1600 character limit"),
        _rule(_P, 21635, "'To' number is a landline"),
        # the account or sender is wrong for every message: stop the channel, alert
        _rule(_C, 20003, "authentication failed (Account SID or Auth Token)"),
        _rule(_C, 20403, "the account may not use the API (suspended or closed)"),
        _rule(_C, 20404, "the account or resource was not found (Account SID or base URL)"),
        _rule(_C, 21212, "'From' is not a valid phone number or alphanumeric sender id"),
        _rule(_C, 21601, "'From' is not an SMS-capable number of this account"),
        _rule(_C, 21603, "a 'From' or 'MessagingServiceSid' is required"),
        _rule(_C, 21705, "the Messaging Service SID is invalid"),
        # try again later
        _rule(_T, 20429, "too many requests"),
        _rule(_T, 20500, "Twilio internal server error"),
        _rule(_T, 20503, "Twilio service unavailable"),
    ]
)

_BY_STATUS: Final = {
    "transient": ErrorRule(_T, "Twilio could not take the request now", _DOCS.format(code=20500)),
    "configuration": ErrorRule(_C, "Twilio refused the account", _DOCS.format(code=20003)),
    "permanent": ErrorRule(_P, "Twilio rejected the message", _DOCS.format(code=21211)),
}


def classify_twilio_error(
    status: int, code: int | None, retry_after: float | None = None
) -> ChannelError:
    """The failure for a Twilio error response: by ``code`` when ``TWILIO_ERRORS`` knows it,
    else by HTTP ``status``. The failure's code is Twilio's code (or ``http_<status>``)."""
    rule = TWILIO_ERRORS.get(code) if code is not None else None
    name = str(code) if code is not None else f"http_{status}"
    if rule is None:
        if status == 429 or status >= 500:
            rule = _BY_STATUS["transient"]
        elif status in (401, 403, 404):
            rule = _BY_STATUS["configuration"]
        else:
            rule = _BY_STATUS["permanent"]
    return rule.failure(name, f"twilio {name}, HTTP {status}", retry_after)


class _HeaderKeepingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client, keeping the last response's ``Retry-After`` per thread (the
    SDK's exceptions drop the headers)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._local = threading.local()
        # One kept-alive connection per worker thread: the SDK's pool (cpu count + 4) is
        # smaller than a worker's threads, and every connection beyond it is a new TLS
        # handshake per text.
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=CONNECTIONS_PER_PROCESS))

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._local.retry_after = None
        response = super().request(*args, **kwargs)
        headers = response.headers or {}
        self._local.retry_after = headers.get("Retry-After") or headers.get("retry-after")
        return response

    def last_retry_after(self) -> float | None:
        """``Retry-After`` (seconds) of this thread's last response, if it had one."""
        return parse_retry_after(getattr(self._local, "retry_after", None))


class TwilioSmsAdapter:
    """Sends SMS through one Twilio account."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str | SecretStr,
        *,
        base_url: str = DEFAULT_TWILIO_BASE_URL,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        public_base_url: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimit | None = None,
    ) -> None:
        token = auth_token if isinstance(auth_token, SecretStr) else SecretStr(auth_token)
        protect_logs([token])
        self.account_sid = account_sid
        self.base_url = base_url.rstrip("/")
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._http = _HeaderKeepingHttpClient(timeout=timeout)
        self._client = Client(account_sid, token.get_secret_value(), http_client=self._http)
        self._client.api.base_url = self.base_url

    @classmethod
    def from_settings(
        cls,
        settings: ProviderSettings,
        *,
        limiter: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> TwilioSmsAdapter:
        """The adapter for the Twilio account in ``settings`` (which must be configured)."""
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ValueError("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            base_url=settings.twilio_base_url,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=settings.twilio_from_number,
            public_base_url=settings.public_base_url,
            timeout=timeout,
            retry=retry,
            limiter=limiter,
        )

    @property
    def confirms_by_callback(self) -> bool:
        """Twilio calls back for every message it took when we give it a status callback
        URL (which carries the delivery id)."""
        return self.public_base_url is not None

    def __repr__(self) -> str:
        return (
            f"TwilioSmsAdapter(account_sid={self.account_sid!r}, base_url={self.base_url!r}, "
            f"messaging_service_sid={self.messaging_service_sid!r})"
        )

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Send ``message`` as one text; return Twilio's message SID as the receipt.

        Raises ``PermanentFailure`` (``ConfigurationFailure`` when the account or sender is
        wrong) or, once the retry policy is spent, ``TransientFailure``.
        """
        params = self.message_parameters(message)
        label = f"twilio delivery {message.delivery_id}"
        sid = send_with_retries(
            lambda: self._create(params),
            retry=self.retry,
            limiter=self.limiter,
            label=label,
            urgent=message.urgency is Urgency.URGENT,
        )
        return ProviderReceipt(self.name, sid)

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Always None: Twilio cannot look a message up by our delivery id; the status
        callback (which carries it) and the sweep's grace period cover a lost receipt."""
        return None

    def message_parameters(self, message: OutgoingMessage) -> dict[str, str]:
        """The keyword arguments of ``client.messages.create`` for ``message``."""
        rendered = message.rendered
        body = rendered.sms.text if rendered.sms is not None else rendered.body
        params = {"to": message.to, "body": body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        elif message.sender_id:
            params["from_"] = message.sender_id
        elif self.from_number:
            params["from_"] = self.from_number
        else:
            raise ConfigurationFailure(
                "no_sender",
                "no Messaging Service, school sender id or TWILIO_FROM_NUMBER to send from",
            )
        if self.public_base_url:
            params["status_callback"] = (
                f"{self.public_base_url}/webhooks/twilio/status"
                f"?delivery_id={quote(str(message.delivery_id))}"
            )
        return params

    def _create(self, params: Mapping[str, str]) -> str:
        try:
            created = self._client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            status = int(getattr(exc, "status", 0) or 0)
            code = getattr(exc, "code", None)
            raise classify_twilio_error(
                status, int(code) if code else None, self._http.last_retry_after()
            ) from None
        except requests.Timeout:
            raise TransientFailure("timeout", "Twilio did not answer in time") from None
        except requests.RequestException as exc:
            if answer_lost(exc):
                raise TransientFailure(
                    "answer_lost", "the connection closed before Twilio answered"
                ) from None
            raise TransientFailure("connection_error", "could not reach Twilio") from None
        except TwilioException:
            raise TransientFailure("provider_error", "Twilio's answer was not understood") from None
        except ValueError:  # a 2xx whose body is not JSON: the message was taken
            return accepted_without_id(self.name)
        sid = getattr(created, "sid", None)
        return str(sid) if sid else accepted_without_id(self.name)
