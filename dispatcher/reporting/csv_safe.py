"""CSV that a spreadsheet opens as data, never as formulas: the one writer every CSV the
product writes goes through (the not-reached list, the audit export, the demo roster).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
evaluated by Excel, LibreOffice or Google Sheets (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``),
so it is written with a leading single quote (OWASP's rule for CSV injection). A cell that is
a plain number (``-3``, ``+447700900123``, ``2.5``: an optional sign, digits, an optional
decimal part) is left as it is: a spreadsheet can only read it as that number, and the
product's own counts and E.164 numbers stay as the product wrote them (decision 0045).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

#: What a spreadsheet takes as the start of a formula (OWASP, CSV Injection).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
#: What goes in front of such a cell.
ESCAPE: Final = "'"

_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """``value`` as a cell no spreadsheet evaluates: text starting with a formula character
    gets a leading ``'``; numbers, ``None``, plain-number text and other text are unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return ESCAPE + value


class SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, stream: _Writable) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one record."""
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write several records."""
        for row in rows:
            self.writerow(row)


class SafeDictWriter:
    """``csv.DictWriter`` whose every cell goes through :func:`safe_cell`; keys not in
    ``fieldnames`` are ignored or refused as ``extrasaction`` says."""

    def __init__(
        self,
        stream: _Writable,
        fieldnames: Sequence[str],
        extrasaction: Literal["raise", "ignore"] = "raise",
    ) -> None:
        self._writer = csv.DictWriter(stream, fieldnames=fieldnames, extrasaction=extrasaction)

    def writeheader(self) -> None:
        """Write the header line (the field names, escaped like any other cell)."""
        self._writer.writerow({name: safe_cell(name) for name in self._writer.fieldnames})

    def writerow(self, row: Mapping[str, object]) -> None:
        """Write one record."""
        self._writer.writerow({key: safe_cell(value) for key, value in row.items()})

    def writerows(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Write several records."""
        for row in rows:
            self.writerow(row)
