"""What SendGrid tells us: Event Webhook batches, in SendGrid's words.

A batch is a JSON array of events signed with SendGrid's Signed Event Webhook (ECDSA over
the timestamp and the body, checked with the ``sendgrid`` SDK's ``EventWebhook`` and the
account's public key) before it is read. Each event names its delivery by the ``delivery_id``
custom arg ``sendgrid_email`` sets; an event without one is not ours and is ignored.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature

from dispatcher.channels.reports import ProviderStatus, ReportVocabulary, WebhookError
from dispatcher.domain import Channel, DeliveryState

PROVIDER: Final = "sendgrid"
#: SendGrid's header names (``EventWebhookHeader`` in the SDK).
SIGNATURE_HEADER: Final = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Twilio-Email-Event-Webhook-Timestamp"
#: The largest delivery id there can be (the table's BIGINT): a bigger number is no delivery.
MAX_DELIVERY_ID: Final = 2**63 - 1
_DELIVERY_ID = re.compile(r"[0-9]{1,19}")
#: Event timestamps outside (0, this] (unix seconds; 2100-01-01) are not believed: the event
#: is applied at the time we received it.
LATEST_TIMESTAMP: Final = 4_102_444_800

_S = DeliveryState

#: SendGrid Event Webhook ``event`` -> the states to try. An open or click proves delivery;
#: ``dropped`` means SendGrid never sent it (suppressed or invalid address). ``deferred``,
#: ``spamreport``, ``unsubscribe`` and group events change no state.
#: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
SENDGRID_EVENT_TARGETS: Final[Mapping[str, tuple[DeliveryState, ...]]] = {
    "processed": (_S.SENT,),
    "delivered": (_S.DELIVERED,),
    "open": (_S.DELIVERED,),
    "click": (_S.DELIVERED,),
    "bounce": (_S.BOUNCED,),
    "dropped": (_S.FAILED, _S.UNDELIVERED),
}


class SendGridVocabulary(ReportVocabulary):
    """SendGrid's message ids: we store ``{X-Message-Id}.{delivery_id}`` (one request carries
    many messages), SendGrid reports ``{X-Message-Id}.{filter}...``: the same message when
    the part before the first dot is the same."""

    def same_message(self, stored: str | None, reported: str | None) -> bool:
        """Whether the report is about the message whose id we stored."""
        if not stored or not reported:
            return True
        return stored.split(".", 1)[0] == reported.split(".", 1)[0]

    def stored_message_id(self, reported: str, delivery_id: int) -> str:
        """The id ``sendgrid_email`` would have stored for ``delivery_id``."""
        return f"{reported.split('.', 1)[0]}.{delivery_id}"


SENDGRID_REPORTS: Final = SendGridVocabulary(
    PROVIDER, Channel.EMAIL, SENDGRID_EVENT_TARGETS, find_by_message_id=False
)


def signature_valid(public_key: str, payload: str, signature: str, timestamp: str) -> bool:
    """Whether ``signature`` is SendGrid's for ``payload`` sent at ``timestamp``, with the
    account's Signed Event Webhook ``public_key``."""
    # Imported here: the sendgrid package loads its whole API client, which only the
    # processes that receive events need.
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        return bool(EventWebhook(public_key).verify_signature(payload, signature, timestamp))
    except (ValueError, binascii.Error, InvalidSignature):
        return False


def event_reports(payload: str) -> tuple[list[ProviderStatus], int]:
    """The reports of a batch, and how many of its events name no delivery of ours (an event
    whose ``delivery_id`` is not a number a delivery can have is one of those: ignoring it
    lets the batch's other events be applied; refusing the batch would have SendGrid retry it
    for a day). Raises ``WebhookError`` when the body is not a JSON array (or is nested
    deeper than the parser goes)."""
    try:
        events = json.loads(payload)
    except (ValueError, RecursionError):
        raise WebhookError("body", "expected a JSON array of events") from None
    if not isinstance(events, list):
        raise WebhookError("body", "expected a JSON array of events")
    reports = [r for r in (_event_report(e) for e in events) if r is not None]
    return reports, len(events) - len(reports)


def _event_report(event: Any) -> ProviderStatus | None:
    """One event as a report, or None when it names no delivery of ours."""
    if not isinstance(event, dict):
        return None
    if any(isinstance(value, str) and "\x00" in value for value in event.values()):
        return None  # no database column can store a NUL byte: not an event we can apply
    name = event.get("event")
    raw_id = event.get("delivery_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        return None
    if not isinstance(name, str) or not _DELIVERY_ID.fullmatch(str(raw_id)):
        return None
    if int(str(raw_id)) > MAX_DELIVERY_ID:
        return None
    reported_at = None
    timestamp = event.get("timestamp")
    if (
        isinstance(timestamp, int | float)
        and not isinstance(timestamp, bool)
        and 0 < timestamp <= LATEST_TIMESTAMP
    ):
        reported_at = datetime.fromtimestamp(timestamp, UTC)
    code: Any = None
    if name == "bounce":  # the SMTP status (e.g. 5.1.1), else bounce or blocked
        code = event.get("status") or event.get("type") or "bounce"
    elif name == "dropped":
        code = "dropped"
    reason = event.get("reason")
    message_id = event.get("sg_message_id")
    return ProviderStatus(
        provider=PROVIDER,
        status=name,
        delivery_id=int(str(raw_id)),
        provider_message_id=message_id if isinstance(message_id, str) else None,
        code=str(code) if code else None,
        reason=str(reason)[:200] if reason else None,
        reported_at=reported_at,
    )
