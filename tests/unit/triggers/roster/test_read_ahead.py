"""The roster import reads the next batch of the file while it writes the last one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dispatcher.triggers.roster.load import read_ahead

pytestmark = pytest.mark.unit


def test_every_item_comes_once_in_order_in_lists_of_the_size() -> None:
    chunks = list(read_ahead(range(12), 5))
    assert chunks == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert list(read_ahead([], 5)) == []


def test_the_next_list_is_read_while_the_caller_holds_the_last() -> None:
    read: list[int] = []
    second_list_read = threading.Event()

    def items() -> Iterator[int]:
        for n in range(4):
            read.append(n)
            if n == 3:
                second_list_read.set()
            yield n

    chunks = read_ahead(items(), 2)
    assert next(chunks) == [0, 1]
    # The caller has not asked for more, yet the reader gets on with the next list.
    assert second_list_read.wait(5), read
    assert next(chunks) == [2, 3]


def test_an_error_reading_comes_out_at_the_list_it_was_in() -> None:
    def items() -> Iterator[int]:
        yield from (1, 2, 3)
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    chunks = read_ahead(items(), 2)
    assert next(chunks) == [1, 2]
    with pytest.raises(UnicodeDecodeError):
        next(chunks)
