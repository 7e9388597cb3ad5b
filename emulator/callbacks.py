"""Calls the emulator makes to the application, as the providers make them: Twilio status
callbacks and SendGrid Event Webhook batches, each signed as the provider signs it.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

CALLBACK_TIMEOUT = 10.0
TWILIO_USER_AGENT = "TwilioProxy/1.1"
SENDGRID_USER_AGENT = "SendGrid Event API"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` and return the HTTP status (an error status is returned, not
    raised; a connection failure raises ``OSError``).
    """
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def post_twilio_callback(
    url: str, params: dict[str, str], signature: str, idempotency_token: str | None = None
) -> int:
    """POST a Twilio status callback: form-encoded ``params`` with ``X-Twilio-Signature``
    (and ``I-Twilio-Idempotency-Token``: the one given, which a retry repeats, or a new one).
    """
    return post(
        url,
        urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": idempotency_token or secrets.token_hex(16),
            "User-Agent": TWILIO_USER_AGENT,
        },
    )


def sendgrid_batch_body(events: list[dict[str, Any]]) -> tuple[str, str]:
    """The payload text of an event batch and the timestamp to sign it with."""
    return json.dumps(events, separators=(",", ":")), str(int(time.time()))


def post_sendgrid_batch(url: str, payload: str, timestamp: str, signature: str) -> int:
    """POST a signed SendGrid Event Webhook batch."""
    return post(
        url,
        payload.encode(),
        {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            TIMESTAMP_HEADER: timestamp,
            "User-Agent": SENDGRID_USER_AGENT,
        },
    )
