"""What the emulator saw: one ``RecordedRequest`` per request, kept in arrival order.

The ``Recorder`` is shared by every handler thread; all its methods take one lock, so a
request is either wholly recorded or not at all, and readers get consistent snapshots.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: Providers whose accepted sends are messages (``/token`` answers are not).
SENDING_PROVIDERS = ("twilio", "sendgrid", "fcm")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it, and the status it answered (0: no answer).
    ``dropped``: a send accepted under a drop-answer rule; ``status`` is what it would have
    answered, but the client got no answer (the connection was closed).

    ``headers`` are as sent, except that the credential in ``Authorization`` is replaced by
    ``***`` (its scheme, ``Basic`` or ``Bearer``, is kept). ``form`` holds a Twilio
    form body; ``json`` a SendGrid or FCM JSON body (None when it was not valid JSON).
    """

    provider: str  # "twilio" | "sendgrid" | "fcm" | "oauth" | "unknown"
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] | None
    json: Any | None
    status: int
    at: float
    dropped: bool = False

    def is_accepted_send(self) -> bool:
        """True for a message the provider took: a 2xx answer to a POST of a sending API
        (an FCM ``validate_only`` request sends nothing and does not count).
        """
        if (
            self.provider == "fcm"
            and isinstance(self.json, dict)
            and self.json.get("validate_only")
        ):
            return False
        return (
            self.provider in SENDING_PROVIDERS
            and self.method == "POST"
            and 200 <= self.status < 300
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Copy headers, hiding the credential of ``Authorization`` (the scheme stays)."""
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} ***".strip()
        out[name] = value
    return out


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of ``times`` that fall in any half-open interval ``[t, t+window)``.

    A sliding window, not calendar seconds: a burst that straddles a second boundary is
    counted whole.
    """
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def duplicate_key(record: RecordedRequest) -> list[str]:
    """The (recipient, content) keys of one accepted send: one for Twilio and FCM, one per
    SendGrid recipient. Two equal keys mean the same message reached the same person twice.
    """
    if record.provider == "twilio" and record.form is not None:
        return [json.dumps([record.form.get("To"), record.form.get("Body")])]
    if record.provider == "fcm" and isinstance(record.json, dict):
        message = record.json.get("message")
        if not isinstance(message, dict):
            return []
        target = message.get("token") or message.get("topic") or message.get("condition")
        return [json.dumps([target, message.get("notification")], sort_keys=True)]
    if record.provider == "sendgrid" and isinstance(record.json, dict):
        return _sendgrid_keys(record.json)
    return []


def _sendgrid_keys(body: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
    for personalization in body.get("personalizations") or []:
        if not isinstance(personalization, dict):
            continue
        subject = personalization.get("subject", body.get("subject"))
        args = dict(top_args or {})
        if isinstance(personalization.get("custom_args"), dict):
            args.update(personalization["custom_args"])
        for field in ("to", "cc", "bcc"):
            for address in personalization.get(field) or []:
                if isinstance(address, dict):
                    email = str(address.get("email", "")).lower()
                    keys.append(json.dumps([email, subject, args.get("delivery_id")]))
    return keys


def sendgrid_recipient_count(body: Any) -> int:
    """How many addresses (to, cc and bcc over all personalizations) a mail send names."""
    return len(_sendgrid_keys(body)) if isinstance(body, dict) else 0


class Recorder:
    """A thread-safe, append-only log of ``RecordedRequest`` with the emulator's summaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []

    def add(self, record: RecordedRequest) -> None:
        """Append one record."""
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def snapshot(self, provider: str | None = None) -> list[RecordedRequest]:
        """A copy of the records so far (only ``provider``'s when given), oldest first."""
        with self._lock:
            records = list(self._records)
        if provider is None:
            return records
        return [r for r in records if r.provider == provider]

    def accepted(self, provider: str) -> list[RecordedRequest]:
        """The accepted sends (2xx answers to POSTs) of ``provider``, oldest first."""
        return [r for r in self.snapshot(provider) if r.is_accepted_send()]

    def max_per_second(self, provider: str | None = None) -> int:
        """The most requests (any answer) that arrived in any one-second window."""
        return max_in_any_window([r.at for r in self.snapshot(provider)])

    def stats(self) -> dict[str, Any]:
        """Counts per provider: ``counts`` (accepted sends), ``recipients`` (addresses those
        sends named), ``requests`` (everything received), ``max_per_second`` and
        ``duplicates`` (accepted recipients whose content repeated one already accepted).
        """
        records = self.snapshot()
        providers = sorted({r.provider for r in records} | set(SENDING_PROVIDERS))
        counts: dict[str, int] = {}
        recipients: dict[str, int] = {}
        requests: dict[str, int] = {}
        max_per_second: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        for provider in providers:
            mine = [r for r in records if r.provider == provider]
            accepted = [r for r in mine if r.is_accepted_send()]
            keys: Counter[str] = Counter()
            for record in accepted:
                keys.update(duplicate_key(record))
            counts[provider] = len(accepted)
            recipients[provider] = sum(
                sendgrid_recipient_count(r.json) if provider == "sendgrid" else 1 for r in accepted
            )
            requests[provider] = len(mine)
            max_per_second[provider] = max_in_any_window([r.at for r in mine])
            duplicates[provider] = sum(n - 1 for n in keys.values() if n > 1)
        return {
            "counts": counts,
            "recipients": recipients,
            "requests": requests,
            "max_per_second": max_per_second,
            "duplicates": duplicates,
        }


def message_delivery_ids(provider: str, record: RecordedRequest) -> list[str]:
    """The delivery ids one accepted send carries (``ProviderEmulator.accepted_delivery_ids``)."""
    if provider == "twilio":
        callback = (record.form or {}).get("StatusCallback", "")
        return parse_qs(urlsplit(callback).query).get("delivery_id", ["?"])[:1]
    body = record.json if isinstance(record.json, dict) else {}
    if provider == "sendgrid":
        return [
            str((p.get("custom_args") or {}).get("delivery_id", "?"))
            for p in body.get("personalizations") or []
            if isinstance(p, dict)
        ]
    data = (body.get("message") or {}).get("data") or {}
    return [str(data.get("delivery_id", "?"))]
