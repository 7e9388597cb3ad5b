"""What a send's result means for its delivery, decided as data. Pure: no database, no
clock, no provider.

A provider's refusal arrives as one of the failure classes of ``dispatcher.channels.base``;
``decide_failure`` turns it into a ``FailureDecision`` (fail and follow up, retry, wait for a
stopped channel, plus what else to remember: a dead push token, a number that texted STOP),
and ``after_attempts`` turns a retry into giving up once the delivery has had its attempts.
``dispatcher.delivery.record`` carries a decision out.
"""

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
from dispatcher.domain import Channel
from dispatcher.retries import DELIVERY_ATTEMPTS

#: Longest reason kept on a delivery row or event.
REASON_LIMIT = 300


class Outcome(StrEnum):
    """What one call to ``deliver`` did with a delivery."""

    SENT = "sent"
    HELD = "held"
    SKIPPED = "skipped"  # not ours to send: already claimed, sent, cancelled or too early
    FAILED = "failed"
    RETRY = "retry"
    #: Its provider refused our account and the channel is stopped: queued again for when
    #: the stop ends (a new message, not a retry, so a long stop never uses up retries).
    WAITING = "waiting"
    #: Its request reached the provider but the answer was lost: it stays ``sending`` until
    #: the provider's status callback says (or, after a while, it is sent again, flagged).
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class DeliveryOutcome:
    """The outcome, and for a retry or a wait how long to wait (seconds)."""

    outcome: Outcome
    retry_after: float | None = None


class Step(StrEnum):
    """What becomes of a delivery the provider did not take."""

    #: Failed for good: the contact's next channel, or the family's next contact, follows.
    FAIL = "fail"
    #: Failed after its last attempt at a transient failure (no follow-up is started).
    GIVE_UP = "give_up"
    #: Back to pending, to be tried again after a backoff (Dramatiq's retries).
    RETRY = "retry"
    #: The provider refused the school's account, which is not the family's fault: stop the
    #: provider's channel for every worker (and raise the alert), and put the delivery back
    #: to pending without counting the attempt, until the stop ends.
    WAIT = "wait"


@dataclass(frozen=True)
class FailureDecision:
    """What to record for a delivery its provider did not take."""

    step: Step
    #: The provider's code (or ours: ``no_address``, ``template_error``).
    code: str
    #: Why, in the provider's words: kept on the row as its error reason.
    reason: str
    #: What the delivery's event says, when it says more than ``reason``.
    detail: str | None = None
    #: Seconds the provider asked us to wait before retrying.
    retry_after: float | None = None
    #: The contact's push token is dead: never route push to it again.
    push_token_dead: bool = False
    #: The contact's number has unsubscribed: record an SMS opt-out as an inbound STOP would.
    sms_opted_out: bool = False


def decide_failure(error: ChannelError, channel: Channel) -> FailureDecision:
    """What a provider's refusal of a delivery on ``channel`` means.

    - ``ConfigurationFailure`` (credentials, account, sender): stop the channel and wait.
    - ``TransientFailure``: retry, after the provider's ``Retry-After`` when it gave one.
    - Any other ``PermanentFailure``: fail and follow up; a ``DeadTokenFailure`` also marks
      the push token dead, an ``UnsubscribedFailure`` of a text records the opt-out.
    """
    reason = error.reason[:REASON_LIMIT]
    if isinstance(error, ConfigurationFailure):
        return FailureDecision(Step.WAIT, error.code, reason)
    if isinstance(error, TransientFailure):
        return FailureDecision(Step.RETRY, error.code, reason, retry_after=error.retry_after)
    if isinstance(error, PermanentFailure):
        return FailureDecision(
            Step.FAIL,
            error.code,
            reason,
            push_token_dead=isinstance(error, DeadTokenFailure),
            sms_opted_out=isinstance(error, UnsubscribedFailure) and channel is Channel.SMS,
        )
    raise TypeError(f"not a failure class the core knows: {type(error).__name__}")


def cannot_send(code: str, reason: str) -> FailureDecision:
    """A delivery that could not even be handed to its provider (no usable address, a
    template that does not render): failed, with its follow-ups."""
    return FailureDecision(Step.FAIL, code, reason[:REASON_LIMIT])


def after_attempts(decision: FailureDecision, attempts: int) -> FailureDecision:
    """``decision``, or giving up when it is a retry of a delivery that has had
    ``DELIVERY_ATTEMPTS`` attempts (``attempts`` made so far, this one included)."""
    if decision.step is not Step.RETRY or attempts < DELIVERY_ATTEMPTS:
        return decision
    detail = f"gave up after {attempts} attempts: {decision.reason}"[:REASON_LIMIT]
    return FailureDecision(Step.GIVE_UP, decision.code, decision.reason, detail=detail)
