"""What providers tell us after a send, as the core reads it: a status report about one
delivery, a text a family sent us (and whether its provider takes it as an opt-out), and each
provider's vocabulary (its status words in our
delivery states, its error codes in plain words).

The providers' own words stay in this folder: ``twilio_webhooks`` and ``sendgrid_webhooks``
each verify their provider's signed requests, parse them into these values and define a
``ReportVocabulary``; ``dispatcher.tracking`` applies the reports without knowing which
provider sent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dispatcher.domain import Channel, DeliveryState


class WebhookError(ValueError):
    """A verified request we cannot read as a report; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ProviderStatus:
    """One report about one delivery, in the provider's words.

    ``delivery_id`` is ours (Twilio's StatusCallback query, SendGrid's ``delivery_id``
    custom arg); ``provider_message_id`` the provider's (a Twilio SID, a SendGrid
    ``sg_message_id``); ``code`` the provider's error code or reason, when it gave one.
    """

    provider: str
    status: str
    delivery_id: int | None
    provider_message_id: str | None = None
    code: str | None = None
    reason: str | None = None
    reported_at: datetime | None = None


class Keyword(StrEnum):
    """What the provider makes of a text's words, by its own opt-out rules."""

    #: An opt-out keyword: the provider itself stops sending to the number.
    STOP = "stop"
    #: An opt-in keyword: the provider sends to the number again.
    START = "start"
    #: Opts back in a number that has opted out; from any other number, an ordinary reply.
    START_IF_OPTED_OUT = "start_if_opted_out"
    #: No keyword: a reply.
    NONE = "none"


@dataclass(frozen=True)
class InboundText:
    """A text a family sent to our number, with what its provider makes of its words."""

    from_phone: str
    to_phone: str | None
    body: str
    provider_message_id: str | None
    keyword: Keyword = Keyword.NONE


@dataclass(frozen=True)
class ReportVocabulary:
    """One provider's words: which channel it reports on, what each status word means in our
    delivery states, and what its delivery error codes mean."""

    provider: str
    channel: Channel
    #: Status word -> the states to try, in order (the first the delivery may move to wins).
    status_targets: Mapping[str, tuple[DeliveryState, ...]]
    #: Error code -> its meaning, for the delivery's event trail and the office's report.
    error_meanings: Mapping[str, str] = field(default_factory=dict)
    #: Whether a report naming no delivery of ours may be matched by the provider's message
    #: id (true when we store the id the provider reports).
    find_by_message_id: bool = True

    def targets(self, status: str) -> tuple[DeliveryState, ...]:
        """The states ``status`` may move a delivery to, best first; empty when the word
        changes nothing (queued, deferred, spam report...)."""
        return self.status_targets.get(status.strip().lower(), ())

    def describe(self, report: ProviderStatus) -> str:
        """The report in words for the delivery's event trail (at most 300 characters)."""
        parts = [f"{report.provider} {report.status}"]
        meaning = self.error_meanings.get(report.code or "")
        if meaning:
            parts.append(meaning)
        if report.reason:
            parts.append(report.reason)
        return ": ".join(parts)[:300]

    def same_message(self, stored: str | None, reported: str | None) -> bool:
        """Whether a report naming ``reported`` is about the message whose id we stored (not
        an earlier attempt's); True when either is unknown."""
        if not stored or not reported:
            return True
        return stored == reported

    def stored_message_id(self, reported: str, delivery_id: int) -> str:
        """The message id a worker would have stored for ``delivery_id``, from the id a
        report gives (for a report that arrives before the worker recorded its send)."""
        return reported
