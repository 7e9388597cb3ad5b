"""The channel interface: what every provider adapter promises.

An adapter takes one ``OutgoingMessage`` and returns a ``ProviderReceipt``, or raises one of
the failure classes the core understands:

- ``PermanentFailure``: this message can never go this way (an invalid number, a hard
  bounce); the contact's next channel follows. Three kinds say more:
  ``ConfigurationFailure`` (our credentials or account are refused: stop the channel),
  ``DeadTokenFailure`` (an app token the provider no longer knows: mark it dead) and
  ``UnsubscribedFailure`` (the recipient opted out with the provider: remember it);
- ``TransientFailure``: the provider could not take it now (rate limited, down, a timeout);
  retry later.

Codes and reasons are the provider's own; which code means which class is each adapter's
business (``dispatcher.channels.errors``), never the core's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from dispatcher.domain import Channel, Urgency
from dispatcher.rendering.templates import RenderedMessage


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message addressed to one contact, with the ids to trace it."""

    delivery_id: int
    announcement_id: int
    school_slug: str
    category: str
    channel: Channel
    to: str
    rendered: RenderedMessage
    sender_id: str
    from_email: str
    reply_to: str
    #: The recipient's own values in the rendered text (the contact's first name, the
    #: pupils' names): an adapter that shares one request among recipients may send them
    #: as per-recipient substitutions (SendGrid personalizations).
    personal: tuple[str, ...] = ()
    #: The category's urgency: an urgent message takes the provider's rate limit before any
    #: other waiting on the same account (``dispatcher.channels.rate_limit``).
    urgency: Urgency = Urgency.NORMAL


@dataclass(frozen=True)
class ProviderReceipt:
    """The provider accepted the message: who took it and under which id."""

    provider: str
    provider_message_id: str


class ChannelError(Exception):
    """Base of the errors a channel adapter raises."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class PermanentFailure(ChannelError):
    """The message can never be delivered this way; go to the next channel."""


class TransientFailure(ChannelError):
    """The provider could not take the message now; try again, after ``retry_after`` seconds."""

    def __init__(self, code: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(code, reason)
        self.retry_after = retry_after


class ConfigurationFailure(PermanentFailure):
    """The provider refused our credentials or account settings (HTTP 401/403, a sender that
    is not ours, an unknown account): every message on this channel would fail the same way.

    The caller should stop using the channel and raise an alert instead of failing every
    delivery one by one. A ``PermanentFailure``, so older callers fall back to the next
    channel.
    """


class DeadTokenFailure(PermanentFailure):
    """The push token is unknown to the provider (app uninstalled, token rotated or
    malformed); the caller should mark it dead and never use it again."""


class UnsubscribedFailure(PermanentFailure):
    """The recipient told the provider to stop sending to them (a text answered STOP): the
    caller should remember the opt-out as if the STOP had reached us."""


class ChannelAdapter(Protocol):
    """One provider account, able to send on some channels."""

    name: str

    def send(self, message: OutgoingMessage) -> ProviderReceipt:
        """Send ``message`` once; return the receipt or raise a ``ChannelError``."""

    def find_sent(self, delivery_id: int) -> ProviderReceipt | None:
        """Return the receipt if this adapter already sent ``delivery_id``, else None.

        Used by the recovery sweep after a worker died mid-send; adapters that cannot know
        return None and the sweep relies on its grace period instead.
        """


@runtime_checkable
class BatchSending(Protocol):
    """An adapter that can send many messages in fewer requests (SendGrid personalizations)."""

    def send_batch(
        self, messages: Sequence[OutgoingMessage]
    ) -> dict[int, ProviderReceipt | ChannelError]:
        """Send ``messages``; return each delivery's receipt or error by delivery id.
        Never raises a ``ChannelError``."""
        ...


def confirms_by_callback(adapter: object) -> bool:
    """Whether ``adapter``'s provider reports each message it took by a status callback
    naming the delivery (so a request whose answer was lost can wait for that word instead
    of being sent again)."""
    return bool(getattr(adapter, "confirms_by_callback", False))


def batch_sending(adapter: object) -> BatchSending | None:
    """``adapter`` if it can send many messages in fewer requests, else None (cheaper than
    ``isinstance`` against the protocol, which inspects every attribute each time)."""
    return cast(BatchSending, adapter) if callable(getattr(adapter, "send_batch", None)) else None
