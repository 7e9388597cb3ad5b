"""How an adapter classifies its provider's answers: a table of ``ErrorRule`` per provider,
one row per provider code, each citing the provider's documentation, saying which failure
class of ``dispatcher.channels.base`` the code means. The tables themselves stay in each
adapter's module, in the provider's words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dispatcher.channels.base import (
    ChannelError,
    ConfigurationFailure,
    DeadTokenFailure,
    PermanentFailure,
    TransientFailure,
    UnsubscribedFailure,
)


class FailureKind(StrEnum):
    """How an adapter treats one provider error."""

    PERMANENT = "permanent"  # this message can never go this way: next channel
    UNSUBSCRIBED = "unsubscribed"  # permanent, and the recipient opted out with the provider
    DEAD_TOKEN = "dead_token"  # permanent, and the push token is dead
    CONFIGURATION = "configuration"  # permanent for every message: stop the channel, alert
    TRANSIENT = "transient"  # try again later


@dataclass(frozen=True)
class ErrorRule:
    """One row of a provider's error table: what a code means and where that is documented."""

    kind: FailureKind
    meaning: str
    source: str

    def failure(
        self, code: str, detail: str = "", retry_after: float | None = None
    ) -> ChannelError:
        """The exception for this rule: ``code`` is the provider's code, the reason is the
        rule's meaning plus ``detail`` (which must never hold credentials or personal data)."""
        reason = f"{self.meaning} ({detail})" if detail else self.meaning
        if self.kind is FailureKind.TRANSIENT:
            return TransientFailure(code, reason, retry_after)
        if self.kind is FailureKind.CONFIGURATION:
            return ConfigurationFailure(code, reason)
        if self.kind is FailureKind.DEAD_TOKEN:
            return DeadTokenFailure(code, reason)
        if self.kind is FailureKind.UNSUBSCRIBED:
            return UnsubscribedFailure(code, reason)
        return PermanentFailure(code, reason)


#: Codes of transient failures after which the provider may have taken the message: the
#: request was sent and its answer never came (a timeout, a connection closed mid-answer).
#: Retrying them can send a message twice (no provider has an idempotency key for sending).
AMBIGUOUS_CODES: Final = frozenset({"timeout", "answer_lost"})

_ANSWER_LOST_NAMES: Final = frozenset(
    {
        "RemoteDisconnected",
        "ConnectionResetError",
        "IncompleteRead",
        "ProtocolError",
        "RemoteProtocolError",
        "ReadError",
        "ChunkedEncodingError",
    }
)


def answer_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the connection closed after the request went
    and before its answer came: the provider may have taken the message."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ in _ANSWER_LOST_NAMES:
            return True
        stack.extend(
            e
            for e in (current.__cause__, current.__context__, *current.args)
            if isinstance(e, BaseException)
        )
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    return False
