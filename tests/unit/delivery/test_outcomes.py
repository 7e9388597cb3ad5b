"""What a provider's answer means for a delivery, decided as data: each failure class the
adapters raise becomes the step the office would expect (fail over, retry, wait for the
school's account to be fixed), and a retry turns into giving up after the last attempt."""

from __future__ import annotations

import pytest

from dispatcher.channels.base import (
    ChannelError,
    ConfigurationFailure,
    DeadTokenFailure,
    PermanentFailure,
    TransientFailure,
    UnsubscribedFailure,
)
from dispatcher.delivery.outcomes import (
    REASON_LIMIT,
    FailureDecision,
    Step,
    after_attempts,
    cannot_send,
    decide_failure,
)
from dispatcher.domain import Channel
from dispatcher.retries import DELIVERY_ATTEMPTS


@pytest.mark.parametrize(
    ("error", "channel", "expected"),
    [
        (
            PermanentFailure("21211", "invalid 'To' phone number"),
            Channel.SMS,
            FailureDecision(Step.FAIL, "21211", "invalid 'To' phone number"),
        ),
        (
            UnsubscribedFailure("21610", "the recipient has unsubscribed"),
            Channel.SMS,
            FailureDecision(
                Step.FAIL, "21610", "the recipient has unsubscribed", sms_opted_out=True
            ),
        ),
        (
            DeadTokenFailure("UNREGISTERED", "the app was uninstalled"),
            Channel.PUSH,
            FailureDecision(
                Step.FAIL, "UNREGISTERED", "the app was uninstalled", push_token_dead=True
            ),
        ),
        (
            ConfigurationFailure("20003", "authentication failed"),
            Channel.SMS,
            FailureDecision(Step.WAIT, "20003", "authentication failed"),
        ),
        (
            TransientFailure("20429", "too many requests", retry_after=3.0),
            Channel.SMS,
            FailureDecision(Step.RETRY, "20429", "too many requests", retry_after=3.0),
        ),
    ],
)
def test_each_failure_class_has_its_step(
    error: ChannelError, channel: Channel, expected: FailureDecision
) -> None:
    assert decide_failure(error, channel) == expected


def test_an_unsubscribe_on_another_channel_records_no_sms_opt_out() -> None:
    decision = decide_failure(UnsubscribedFailure("unsubscribe", "list unsubscribe"), Channel.EMAIL)
    assert (decision.step, decision.sms_opted_out) == (Step.FAIL, False)


def test_a_failure_class_the_core_does_not_know_is_an_error() -> None:
    with pytest.raises(TypeError):
        decide_failure(ChannelError("x", "neither permanent nor transient"), Channel.SMS)


def test_reasons_are_kept_short_enough_for_the_row() -> None:
    decision = decide_failure(PermanentFailure("500", "x" * 1000), Channel.EMAIL)
    assert len(decision.reason) == REASON_LIMIT
    assert len(cannot_send("template_error", "y" * 1000).reason) == REASON_LIMIT


def test_a_retry_becomes_giving_up_at_the_last_attempt() -> None:
    retry = decide_failure(TransientFailure("503", "service unavailable"), Channel.EMAIL)
    assert after_attempts(retry, DELIVERY_ATTEMPTS - 1) == retry
    given_up = after_attempts(retry, DELIVERY_ATTEMPTS)
    assert given_up.step is Step.GIVE_UP
    assert given_up.reason == "service unavailable"  # the provider's words stay the reason
    assert given_up.detail == f"gave up after {DELIVERY_ATTEMPTS} attempts: service unavailable"


def test_only_retries_are_turned_into_giving_up() -> None:
    failure = decide_failure(PermanentFailure("21211", "invalid number"), Channel.SMS)
    assert after_attempts(failure, DELIVERY_ATTEMPTS + 5) == failure


def test_a_message_that_cannot_be_prepared_fails_with_its_follow_ups() -> None:
    decision = cannot_send("no_address", "contact has no usable sms address")
    assert (decision.step, decision.code) == (Step.FAIL, "no_address")
