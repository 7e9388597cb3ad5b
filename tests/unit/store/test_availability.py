"""The database breaker: open after a lost connection, closed by the first probe that
succeeds, with the waiting threads let go and the listeners told."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from dispatcher.store.availability import DatabaseBreaker, is_connection_error


class FlakyDatabase:
    """A probe that fails until ``answers`` is set."""

    def __init__(self) -> None:
        self.answers = False
        self.probes = 0

    def probe(self) -> None:
        self.probes += 1
        if not self.answers:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_a_closed_breaker_lets_work_through_without_probing() -> None:
    database = FlakyDatabase()
    breaker = DatabaseBreaker(database.probe, probe_interval=0.01)
    assert not breaker.is_open
    assert breaker.wait_until_closed(timeout=0)
    assert database.probes == 0


def test_waiters_are_held_until_a_probe_succeeds_then_all_go() -> None:
    database = FlakyDatabase()
    breaker = DatabaseBreaker(database.probe, probe_interval=0.01)
    closed: list[str] = []
    breaker.on_close(lambda: closed.append("closed"))
    breaker.trip(OperationalError("x", {}, Exception("gone")))
    assert breaker.is_open
    released: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: released.append(breaker.wait_until_closed(5)))
        for _ in range(4)
    ]
    for waiter in waiters:
        waiter.start()
    assert not breaker.wait_until_closed(timeout=0.05)  # still down: a timed wait gives up
    assert released == []
    database.answers = True
    for waiter in waiters:
        waiter.join(5)
    assert released == [True] * 4
    assert not breaker.is_open
    assert closed == ["closed"]  # the listeners run once per closing
    assert breaker.trips == 1


def test_tripping_an_open_breaker_counts_one_outage() -> None:
    breaker = DatabaseBreaker(FlakyDatabase().probe)
    breaker.trip()
    breaker.trip()
    assert breaker.trips == 1


def test_check_probes_once_without_waiting() -> None:
    database = FlakyDatabase()
    breaker = DatabaseBreaker(database.probe, probe_interval=10)
    breaker.trip()
    assert not breaker.check()
    database.answers = True
    assert breaker.check()
    assert database.probes == 2


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (OperationalError("SELECT 1", {}, Exception("connection refused")), True),
        (OperationalError("INSERT", {}, Exception("database is locked")), False),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_a_lost_connection_opens_the_breaker(error: Exception, lost: bool) -> None:
    assert is_connection_error(error) is lost
