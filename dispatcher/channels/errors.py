"""How an adapter classifies its provider's answers: a table of ``ErrorRule`` per provider,
one row per provider code, each citing the provider's documentation, saying which failure
class of ``dispatcher.channels.base`` the code means. The tables themselves stay in each
adapter's module, in the provider's words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
