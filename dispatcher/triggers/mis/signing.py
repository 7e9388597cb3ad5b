"""Signed MIS webhooks: each request is signed with HMAC-SHA256 over ``timestamp + "." + body``
with the school's secret (``DISPATCHER_MIS_SECRET_<SLUG>``) and refused unless the signature
matches and the timestamp is within five minutes of our clock. Pure: the time is passed in."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import UTC, datetime, timedelta

#: Signed requests older (or further in the future) than this are refused: the replay window.
SIGNATURE_TOLERANCE = timedelta(minutes=5)
TIMESTAMP_HEADER = "X-MIS-Timestamp"
SIGNATURE_HEADER = "X-MIS-Signature"
SECRET_VARIABLE_PREFIX = "DISPATCHER_MIS_SECRET_"


class SignatureError(ValueError):
    """The request is not signed as it must be; ``field`` names the header at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def secret_variable(school: str) -> str:
    """The environment variable holding ``school``'s secret: ``DISPATCHER_MIS_SECRET_`` and
    the slug in capitals with dashes as underscores (``three-dimensions`` ->
    ``DISPATCHER_MIS_SECRET_THREE_DIMENSIONS``)."""
    return SECRET_VARIABLE_PREFIX + school.upper().replace("-", "_")


def school_secret(school: str, environ: dict[str, str] | None = None) -> bytes | None:
    """``school``'s MIS secret from the environment, or None when it has none."""
    value = (environ if environ is not None else os.environ).get(secret_variable(school), "")
    return value.encode("utf-8") if value else None


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-MIS-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds):
    ``sha256=`` and the hex HMAC-SHA256 of ``timestamp + "." + body``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def verify_signature(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Accept a request signed with ``secret`` within :data:`SIGNATURE_TOLERANCE` of ``now``;
    raise ``SignatureError`` naming the header otherwise. Compares in constant time."""
    ts_field, sig_field = f"header.{TIMESTAMP_HEADER}", f"header.{SIGNATURE_HEADER}"
    if not timestamp:
        raise SignatureError(ts_field, "missing: the unix time (seconds) the request was sent")
    if not _TIMESTAMP.match(timestamp.strip()):
        raise SignatureError(ts_field, "must be the unix time in whole seconds")
    timestamp = timestamp.strip()
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise SignatureError(
            ts_field,
            "more than 5 minutes from our clock: a stale request (or a replay) is refused",
        )
    if not signature:
        raise SignatureError(sig_field, "missing: sha256=<hex HMAC-SHA256>")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError(sig_field, "does not match the body and timestamp")
