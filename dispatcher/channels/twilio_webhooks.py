"""What Twilio tells us: message status callbacks and inbound texts, in Twilio's words.

Every request is verified with the ``twilio`` SDK's ``RequestValidator`` (the auth token and
the public URL Twilio called) before it is read. A status callback carries ``MessageStatus``
(``sent``, ``delivered``, ``undelivered``, ``failed``...), ``MessageSid`` and, for a failure,
Twilio's ``ErrorCode``; our delivery id travels in the callback URL's query
(``?delivery_id=``, set by ``twilio_sms``). An inbound text carries ``From``, ``To``,
``Body`` and ``MessageSid``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from twilio.request_validator import RequestValidator

from dispatcher.channels.reports import (
    InboundText,
    Keyword,
    ProviderStatus,
    ReportVocabulary,
    WebhookError,
)
from dispatcher.domain import Channel, DeliveryState

PROVIDER: Final = "twilio"
SIGNATURE_HEADER: Final = "X-Twilio-Signature"
#: The largest delivery id there can be (the table's BIGINT): a bigger number is no delivery.
MAX_DELIVERY_ID: Final = 2**63 - 1
_DELIVERY_ID = re.compile(r"[0-9]{1,19}")

_S = DeliveryState

#: Twilio ``MessageStatus`` -> the states to try, in order (the first allowed wins).
#: ``failed`` is FAILED while we are still sending, UNDELIVERED once we recorded it sent.
#: Others (queued, accepted, sending, scheduled, canceled, receiving, received,
#: partially_delivered) change nothing.
#: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
TWILIO_STATUS_TARGETS: Final[Mapping[str, tuple[DeliveryState, ...]]] = {
    "sent": (_S.SENT,),
    "delivered": (_S.DELIVERED,),
    "read": (_S.DELIVERED,),
    "undelivered": (_S.UNDELIVERED,),
    "failed": (_S.FAILED, _S.UNDELIVERED),
}

#: Twilio's delivery error codes (reported by status callback), what they mean.
#: https://www.twilio.com/docs/api/errors/{code}
TWILIO_DELIVERY_ERRORS: Final[Mapping[str, str]] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked (the recipient blocked the sender, or the carrier did)",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "30010": "message price exceeds the maximum price",
    "30034": "sender not registered for this destination",
    "21610": "the recipient has unsubscribed (replied STOP)",
}

TWILIO_REPORTS: Final = ReportVocabulary(
    PROVIDER, Channel.SMS, TWILIO_STATUS_TARGETS, TWILIO_DELIVERY_ERRORS
)


#: Twilio's default opt-out and opt-in keywords (Advanced Opt-Out), matched on the whole
#: message, ignoring case, spaces and trailing punctuation.
#: https://help.twilio.com/articles/223134027
STOP_KEYWORDS: Final = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_KEYWORDS: Final = frozenset({"START", "UNSTOP"})
#: Twilio also takes YES as opting back in; from a number that has not opted out it is a
#: reply (to a consent request, say).
YES: Final = "YES"


def keyword_of(body: str) -> Keyword:
    """What Twilio makes of a text: one of its opt-out or opt-in keywords when the whole
    text is one, else none."""
    word = body.strip().rstrip(".!").strip().upper()
    if word in STOP_KEYWORDS:
        return Keyword.STOP
    if word in START_KEYWORDS:
        return Keyword.START
    if word == YES:
        return Keyword.START_IF_OPTED_OUT
    return Keyword.NONE


def signature_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) is Twilio's for a request to
    ``url`` (the public URL Twilio called, query included) with form ``params``."""
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def _refuse_nul(params: Mapping[str, str]) -> None:
    """Raise ``WebhookError`` naming the first field holding a NUL byte (no database column
    can store one)."""
    for name, value in params.items():
        if "\x00" in value or "\x00" in name:
            raise WebhookError(name.replace("\x00", "") or "body", "contains a NUL byte")


def status_report(params: Mapping[str, str], delivery_id: str | None) -> ProviderStatus:
    """A status callback as a report; ``delivery_id`` is the callback URL's query value.
    Raises ``WebhookError`` naming a missing or malformed field (a delivery id that is not
    ASCII digits, or larger than any delivery id can be)."""
    _refuse_nul(params)
    parsed_id: int | None = None
    if delivery_id is not None:
        if not _DELIVERY_ID.fullmatch(delivery_id) or int(delivery_id) > MAX_DELIVERY_ID:
            raise WebhookError("delivery_id", "expected a delivery number")
        parsed_id = int(delivery_id)
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not status:
        raise WebhookError("MessageStatus", "missing")
    return ProviderStatus(
        provider=PROVIDER,
        status=status,
        delivery_id=parsed_id,
        provider_message_id=params.get("MessageSid") or params.get("SmsSid"),
        code=params.get("ErrorCode") or None,
    )


def inbound_text(params: Mapping[str, str]) -> InboundText:
    """An inbound-message webhook as the text a family sent. Raises ``WebhookError`` when it
    names no sender."""
    _refuse_nul(params)
    sender = params.get("From", "").strip()
    if not sender:
        raise WebhookError("From", "missing")
    body = params.get("Body", "")
    return InboundText(
        from_phone=sender,
        to_phone=params.get("To") or None,
        body=body,
        provider_message_id=params.get("MessageSid") or params.get("SmsSid") or None,
        keyword=keyword_of(body),
    )
