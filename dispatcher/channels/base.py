"""The channel interface: what every provider adapter promises.

An adapter takes one ``OutgoingMessage`` and returns a ``ProviderReceipt``, or raises
``PermanentFailure`` (never retry: invalid number, unsubscribed, dead token, hard bounce) or
``TransientFailure`` (retry later: rate limited, provider down, timeout). Codes are the
provider's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from dispatcher.domain import Channel
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


def batch_sending(adapter: object) -> BatchSending | None:
    """``adapter`` if it can send many messages in fewer requests, else None (cheaper than
    ``isinstance`` against the protocol, which inspects every attribute each time)."""
    return cast(BatchSending, adapter) if callable(getattr(adapter, "send_batch", None)) else None
