"""The formula-safe CSV writer every CSV of the product goes through."""

from __future__ import annotations

import csv
import io

import pytest

from dispatcher.reporting.csv_safe import SafeDictWriter, SafeWriter, safe_cell

PAYLOADS = (
    '=HYPERLINK("http://x","Click")',
    "@SUM(1+1)",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\r=cmd",
    "\t=1+1",
)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_cell_a_spreadsheet_would_evaluate_gets_a_leading_quote(payload: str) -> None:
    buffer = io.StringIO()
    SafeWriter(buffer).writerow(["S1", payload, 3])
    [[student, cell, count]] = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert cell == "'" + payload
    assert (student, count) == ("S1", "3")


@pytest.mark.parametrize("value", ["-3", "+447700900123", "2.5", "-0.25", 0, -7, None])
def test_plain_numbers_and_non_text_are_left_as_written(value: object) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", ["Lovelace", "O'Brien", "a=b", " plain", "", "6B"])
def test_ordinary_text_is_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_the_dict_writer_escapes_every_value_and_ignores_extra_keys() -> None:
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=["name", "phone"], extrasaction="ignore")
    writer.writeheader()
    writer.writerow({"name": "=1+1", "phone": "+447700900001", "other": "x"})
    lines = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert lines == [{"name": "'=1+1", "phone": "+447700900001"}]
