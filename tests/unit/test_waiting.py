"""``tests.support.waiting.wait_until``, which every test waiting on another thread or process
uses: it returns the first truthy value and, on timeout, says what it waited for."""

from __future__ import annotations

import time

import pytest

from tests.support.waiting import wait_until


def test_returns_the_first_truthy_value_of_the_predicate() -> None:
    answers = iter([None, 0, [], ["ready"], ["later"]])
    assert wait_until(lambda: next(answers), 5, 0, what="a list") == ["ready"]
    assert next(answers) == ["later"]  # not called again once it was truthy


def test_a_predicate_true_at_once_does_not_wait() -> None:
    started = time.monotonic()
    assert wait_until(lambda: 42, 30, 10, what="an answer") == 42
    assert time.monotonic() - started < 5


def test_a_timeout_names_what_was_awaited_the_last_value_and_the_explanation() -> None:
    calls: list[float] = []

    def never() -> int:
        calls.append(time.monotonic())
        return 0

    with pytest.raises(AssertionError) as caught:
        wait_until(never, 0.2, 0.02, what="the queue to drain", explain=lambda: "3 left")
    message = str(caught.value)
    assert message.startswith("timed out after 0.2 s waiting for the queue to drain")
    assert "(last value: 0)" in message
    assert message.endswith("\n3 left")
    assert len(calls) >= 2  # it polled, and checked once more at the deadline
    assert calls[-1] - calls[0] >= 0.2 - 0.02
