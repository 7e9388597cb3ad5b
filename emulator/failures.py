"""Failure rules: how the emulator is told to misbehave, and which rule a request meets.

A rule is checked after authentication and validation (so the emulator still refuses what a
real provider would refuse) and before a message is accepted. Rules are tried in the order
they were added; the first that matches the provider and recipient, still has uses left
(``count``) and wins its dice roll (``rate``) applies. A rule with neither ``status`` nor
``code`` answers 500, unless it names a recipient (``to``): then it answers as the provider
does for a bad recipient (Twilio 400 with code 21211, SendGrid 400 naming the address's
field, FCM 404 UNREGISTERED).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

RULE_PROVIDERS = ("twilio", "sendgrid", "fcm", "oauth")


@dataclass
class FailureRule:
    """One way to fail. See the module docstring for how rules are matched.

    ``status`` is the HTTP status to answer; ``code`` the provider's own code (a Twilio
    number such as 21211, an FCM ``errorCode`` such as ``"UNREGISTERED"``, or the message
    text of a SendGrid error). Either may be left out: the other one, or the provider's usual
    pairing, fills it in. ``to`` limits the rule to one recipient (E.164 number, email
    address, compared without case, or push token). ``retry_after`` adds a ``Retry-After``
    header. ``timeout`` makes the emulator hang for ``hang_seconds`` and then close the
    connection without answering.

    ``drop_answer`` is the failure a client cannot tell from a refusal: the message is
    accepted and recorded as a send (status callbacks included), then the connection is
    closed without an HTTP answer, after the usual latency; with ``timeout`` as well, after
    hanging for ``hang_seconds``. ``status`` and ``code`` do not apply to it.
    """

    provider: str
    status: int | None = None
    code: str | int | None = None
    to: str | None = None
    rate: float = 1.0
    count: int | None = None
    retry_after: float | None = None
    timeout: bool = False
    hang_seconds: float = 30.0
    drop_answer: bool = False

    def __post_init__(self) -> None:
        if self.provider not in RULE_PROVIDERS:
            raise ValueError(f"provider: expected one of {', '.join(RULE_PROVIDERS)}")
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError("status: expected an HTTP status between 100 and 599")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError("rate: expected a probability between 0 and 1")
        if self.count is not None and int(self.count) < 0:
            raise ValueError("count: expected a number of uses, 0 or more")
        if self.retry_after is not None and float(self.retry_after) < 0:
            raise ValueError("retry_after: expected seconds, 0 or more")
        if float(self.hang_seconds) < 0:
            raise ValueError("hang_seconds: expected seconds, 0 or more")

    @classmethod
    def from_dict(cls, data: Any) -> FailureRule:
        """Build a rule from a JSON object of its field names; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object of FailureRule fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FailureRule field(s): {', '.join(unknown)}")
        if "provider" not in data:
            raise ValueError("provider: required")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """The rule's fields as a JSON-ready dict."""
        return asdict(self)

    def retry_after_header(self) -> dict[str, str]:
        """``{"Retry-After": ...}`` when the rule sets one (whole seconds print without a
        decimal point; fractions, handy in fast tests, print as given), else ``{}``.
        """
        if self.retry_after is None:
            return {}
        seconds = float(self.retry_after)
        text = str(int(seconds)) if seconds.is_integer() else repr(seconds)
        return {"Retry-After": text}


@dataclass
class _Active:
    rule: FailureRule
    remaining: int | None


class FailureBook:
    """The emulator's rules, shared by all handler threads."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Active] = []
        self._random = random.Random(seed)

    def add(self, rule: FailureRule) -> None:
        """Add ``rule`` after the existing ones."""
        with self._lock:
            self._rules.append(_Active(rule, rule.count))

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FailureRule]:
        """The rules still able to apply, in order."""
        with self._lock:
            return [a.rule for a in self._rules if a.remaining != 0]

    def take(self, provider: str, recipients: list[str]) -> FailureRule | None:
        """The rule that applies to a request of ``provider`` naming ``recipients``, if any;
        a rule with a ``count`` has one use fewer afterwards.
        """
        wanted = {r.lower() for r in recipients}
        with self._lock:
            for active in self._rules:
                rule = active.rule
                if rule.provider != provider or active.remaining == 0:
                    continue
                if rule.to is not None and rule.to.lower() not in wanted:
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                return rule
        return None
