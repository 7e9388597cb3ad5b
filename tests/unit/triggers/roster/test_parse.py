"""Roster CSV parsing: good rows, row errors with the right line/column, header problems."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import TextIO, cast

import pytest

from dispatcher.domain import Channel, Need
from dispatcher.triggers.roster.parse import (
    ROSTER_COLUMNS,
    TRUST_ROSTER_COLUMNS,
    WHOLE_ROW,
    PhoneNumber,
    RosterHeaderError,
    RosterRow,
    RowError,
    normalise_email,
    normalise_phone,
    parse_roster,
)

CATEGORIES = frozenset({"newsletter", "survey", "emergency_closure"})
HEADER = ",".join(ROSTER_COLUMNS)


def link(**overrides: str) -> dict[str, str]:
    """A valid roster row as text, with ``overrides`` (``class_`` for the class column)."""
    row = {
        "student_id": "S1",
        "student_first_name": "Amelia",
        "student_last_name": "Nowak",
        "year": "3",
        "class": "3B",
        "groups": "choir;trip-paris",
        "contact_id": "C1",
        "contact_first_name": "Anna",
        "contact_last_name": "Nowak",
        "relationship": "Mother",
        "priority": "1",
        "parental_responsibility": "Y",
        "no_contact": "N",
        "mobile": "07700 900123",
        "email": "anna.nowak@example.com",
        "preferred_channel": "sms",
        "language": "pl",
        "needs": "large_print",
        "opt_outs": "newsletter",
        "push_token": "tok_" + "a" * 60,
    }
    if "class_" in overrides:
        overrides["class"] = overrides.pop("class_")
    assert set(overrides) <= set(row), set(overrides) - set(row)
    row.update(overrides)
    return row


def to_csv(rows: Sequence[dict[str, str]], header: Sequence[str] = ROSTER_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[column] for column in ROSTER_COLUMNS])
    return out.getvalue()


def parse(text: str) -> list[RosterRow | RowError]:
    return list(parse_roster(io.StringIO(text), CATEGORIES))


def rows_of(results: Sequence[RosterRow | RowError]) -> list[RosterRow]:
    return [result for result in results if isinstance(result, RosterRow)]


def errors_of(results: Sequence[RosterRow | RowError]) -> list[RowError]:
    return [result for result in results if isinstance(result, RowError)]


def only_row(text: str) -> RosterRow:
    results = parse(text)
    assert errors_of(results) == []
    (row,) = rows_of(results)
    return row


def only_errors(**overrides: str) -> list[RowError]:
    results = parse(to_csv([link(**overrides)]))
    assert rows_of(results) == []
    return errors_of(results)


# --- good rows -------------------------------------------------------------------------------


def test_good_row_parses_every_field() -> None:
    row = only_row(to_csv([link()]))
    assert row == RosterRow(
        line=2,
        student_id="S1",
        student_first_name="Amelia",
        student_last_name="Nowak",
        year=3,
        class_name="3B",
        groups=("choir", "trip-paris"),
        contact_id="C1",
        contact_first_name="Anna",
        contact_last_name="Nowak",
        relationship="Mother",
        priority=1,
        parental_responsibility=True,
        no_contact=False,
        phone=PhoneNumber(e164="+447700900123", sms_capable=True),
        email="anna.nowak@example.com",
        preferred_channel=Channel.SMS,
        language="pl",
        needs=frozenset({Need.LARGE_PRINT}),
        opt_outs=frozenset({"newsletter"}),
        push_token="tok_" + "a" * 60,
    )


def test_minimal_row_has_empty_optionals() -> None:
    row = only_row(
        to_csv(
            [
                link(
                    year="",
                    class_="",
                    groups="",
                    contact_first_name="",
                    relationship="",
                    mobile="",
                    email="",
                    preferred_channel="",
                    language="",
                    needs="",
                    opt_outs="",
                    push_token="",
                )
            ]
        )
    )
    assert row.year is None
    assert row.class_name is None
    assert row.groups == ()
    assert row.contact_first_name == ""
    assert row.phone is None and row.email is None  # valid: "not reached" later
    assert row.preferred_channel is None and row.language is None and row.push_token is None
    assert row.needs == frozenset() and row.opt_outs == frozenset()


@pytest.mark.parametrize(
    "raw",
    [
        "07700 900123",
        "+447700900123",
        "07700900123",
        "+44 7700 900123",
        "07700 900 123",
        "(07700) 900123",
        "0044 7700 900123",
        "07700-900-123",
        "  07700 900123  ",
    ],
)
def test_mobiles_in_many_formats_become_e164(raw: str) -> None:
    row = only_row(to_csv([link(mobile=raw)]))
    assert row.phone == PhoneNumber(e164="+447700900123", sms_capable=True)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0113 496 0123", "+441134960123"),
        ("0161 496 0999", "+441614960999"),
        ("020 7946 0123", "+442079460123"),
        ("01632 960123", "+441632960123"),
        ("+44 121 496 0000", "+441214960000"),
    ],
)
def test_landline_is_kept_but_not_sms_capable(raw: str, e164: str) -> None:
    row = only_row(to_csv([link(mobile=raw)]))
    assert row.phone == PhoneNumber(e164=e164, sms_capable=False)


def test_normalise_phone_region_and_other_types() -> None:
    assert normalise_phone("0800 123 4567").sms_capable is False  # freephone: valid, no SMS
    assert normalise_phone("+44 7700 900001", region="PL").e164 == "+447700900001"


def test_email_is_normalised() -> None:
    row = only_row(to_csv([link(email="  Anna.Nowak@Example.COM ")]))
    assert row.email == "Anna.Nowak@example.com"
    assert normalise_email("ZOE@EXAMPLE.ORG") == "ZOE@example.org"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("R", 0), ("r", 0), ("N", -1), ("0", 0), ("-1", -1), ("14", 14), ("6", 6), ("", None)],
)
def test_year_groups(raw: str, expected: int | None) -> None:
    assert only_row(to_csv([link(year=raw)])).year == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("PL", "pl"), ("pt-BR", "pt-BR"), ("EN-gb", "en-gb"), ("cy", "cy"), ("ur", "ur")],
)
def test_language_tag_primary_subtag_lower_cased(raw: str, expected: str) -> None:
    assert only_row(to_csv([link(language=raw)])).language == expected


def test_empty_yes_no_fields_take_their_defaults() -> None:
    row = only_row(to_csv([link(parental_responsibility="", no_contact="")]))
    assert row.parental_responsibility is True
    assert row.no_contact is False


def test_yes_no_fields_are_case_insensitive() -> None:
    row = only_row(to_csv([link(parental_responsibility="n", no_contact="y")]))
    assert row.parental_responsibility is False
    assert row.no_contact is True


def test_lists_are_trimmed_and_deduplicated() -> None:
    row = only_row(
        to_csv(
            [
                link(
                    groups=" choir ; ;football;choir",
                    needs="NO_SMS; hearing_impaired;",
                    opt_outs="Survey;newsletter",
                )
            ]
        )
    )
    assert row.groups == ("choir", "football")
    assert row.needs == frozenset({Need.NO_SMS, Need.HEARING_IMPAIRED})
    assert row.opt_outs == frozenset({"survey", "newsletter"})


def test_channel_is_case_insensitive() -> None:
    assert only_row(to_csv([link(preferred_channel="Push")])).preferred_channel is Channel.PUSH


# --- bad rows --------------------------------------------------------------------------------


def test_bad_rows_are_reported_and_skipped_while_good_rows_come_through() -> None:
    text = to_csv(
        [
            link(student_id="S1"),  # line 2
            link(student_id="S2", mobile="07700 90012"),  # 3
            link(student_id="S3"),  # 4
            link(student_id="S4", email="anna.nowak@example"),  # 5
            link(student_id="S5"),  # 6
            link(student_id="S6", preferred_channel="whatsapp"),  # 7
            link(student_id="S7", needs="large_print;braille"),  # 8
            link(student_id="S8", priority="4"),  # 9
            link(student_id=""),  # 10
            link(student_id="S10", contact_id=""),  # 11
            link(student_id="S11"),  # 12
        ]
    )
    results = parse(text)
    assert [(row.line, row.student_id) for row in rows_of(results)] == [
        (2, "S1"),
        (4, "S3"),
        (6, "S5"),
        (12, "S11"),
    ]
    assert [(error.line, error.column) for error in errors_of(results)] == [
        (3, "mobile"),
        (5, "email"),
        (7, "preferred_channel"),
        (8, "needs"),
        (9, "priority"),
        (10, "student_id"),
        (11, "contact_id"),
    ]
    # Results come in file order.
    assert [result.line for result in results] == sorted(result.line for result in results)


@pytest.mark.parametrize(
    "column",
    ["student_id", "student_first_name", "student_last_name", "contact_id", "contact_last_name"],
)
def test_required_column_missing_names_the_column(column: str) -> None:
    (error,) = only_errors(**{column: "  "})
    assert (error.line, error.column) == (2, column)
    assert "required" in error.reason


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("mobile", "07700 90012"),
        ("mobile", "not known"),
        ("mobile", "+999 1234"),
        ("email", "anna.nowak.example.com"),
        ("email", "anna nowak@example.com"),
        ("preferred_channel", "letter"),
        ("needs", "deaf"),
        ("priority", "0"),
        ("priority", "first"),
        ("priority", ""),
        ("year", "15"),
        ("year", "Y7"),
        ("language", "English"),
        ("parental_responsibility", "Yes"),
        ("no_contact", "maybe"),
        ("opt_outs", "newsletter;bake_sale"),
        ("push_token", "abc def"),
    ],
)
def test_bad_value_is_one_error_on_its_column(column: str, value: str) -> None:
    (error,) = only_errors(**{column: value})
    assert (error.line, error.column) == (2, column)
    assert error.reason


def test_each_bad_column_of_a_row_is_its_own_error_in_column_order() -> None:
    errors = only_errors(email="x@", mobile="123", student_last_name="", needs="deaf")
    assert [error.column for error in errors] == [
        "student_last_name",
        "mobile",
        "email",
        "needs",
    ]
    assert {error.line for error in errors} == {2}


def test_unknown_opt_out_category() -> None:
    (error,) = only_errors(opt_outs="bake_sale")
    assert error.column == "opt_outs"
    assert "category" in error.reason
    results = list(parse_roster(io.StringIO(to_csv([link(opt_outs="newsletter")])), []))
    assert [type(result) for result in results] == [RowError]


def test_wrong_number_of_fields_is_a_whole_row_error() -> None:
    text = HEADER + "\nS1,Amelia,Nowak\n" + to_csv([link()]).splitlines()[1] + ",extra\n"
    errors = errors_of(parse(text))
    assert [(error.line, error.column) for error in errors] == [(2, WHOLE_ROW), (3, WHOLE_ROW)]


# --- personal data never in reasons ----------------------------------------------------------

BAD_PHONES = ["07700 90012", "077009001234", "+44 7700 9001", "0770O 900123", "99999999999999"]
BAD_EMAILS = [
    "anna.nowak@example",
    "anna.nowak.example.com",
    "anna nowak@example.com",
    "anna@@example.com",
    "anna,nowak@example.com",
    "anna.nowak@exa_mple.com",
]


@pytest.mark.parametrize("value", BAD_PHONES)
def test_phone_error_reason_never_contains_the_number(value: str) -> None:
    (error,) = only_errors(mobile=value)
    digits = "".join(ch for ch in value if ch.isdigit())
    assert value not in repr(error)
    assert digits[-6:] not in error.reason
    with pytest.raises(ValueError) as raised:
        normalise_phone(value)
    assert digits[-6:] not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


@pytest.mark.parametrize("value", BAD_EMAILS)
def test_email_error_reason_never_contains_the_address(value: str) -> None:
    (error,) = only_errors(email=value)
    assert error.column == "email"
    for part in ("anna", "nowak", "example", value):
        assert part not in error.reason
    with pytest.raises(ValueError) as raised:
        normalise_email(value)
    assert "anna" not in str(raised.value)
    # The library's message (which quotes the address) is not chained on.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_no_reason_echoes_any_value_of_a_bad_row() -> None:
    values = link(
        mobile="07700 90099",
        email="zofia.wisniewska@example",
        preferred_channel="zofia",
        needs="wisniewska",
        opt_outs="zofia_w",
        language="Zofiaaa",
        push_token="zofia token",
        year="zofia",
        priority="zofia",
        parental_responsibility="zofia",
        no_contact="zofia",
    )
    errors = errors_of(parse(to_csv([values])))
    assert len(errors) == 11
    for error in errors:
        assert "zofia" not in error.reason.lower()
        assert "wisniewska" not in error.reason.lower()
        assert "90099" not in error.reason


# --- layout: header, BOM, blank lines, quoting ------------------------------------------------


def test_missing_and_unexpected_header_columns_are_named() -> None:
    header = [column for column in ROSTER_COLUMNS if column not in ("email", "needs")]
    header.append("nickname")
    with pytest.raises(RosterHeaderError) as raised:
        parse_roster(io.StringIO(",".join(header) + "\n"), CATEGORIES)
    assert raised.value.missing == ("email", "needs")
    assert raised.value.unexpected == ("nickname",)
    assert "email" in str(raised.value) and "nickname" in str(raised.value)


def test_header_error_is_raised_before_iterating() -> None:
    with pytest.raises(RosterHeaderError):
        parse_roster(io.StringIO("student_id,name\n"), CATEGORIES)  # no list() needed


def test_header_in_wrong_order() -> None:
    header = list(ROSTER_COLUMNS)
    header[0], header[1] = header[1], header[0]
    with pytest.raises(RosterHeaderError, match="order") as raised:
        parse_roster(io.StringIO(",".join(header) + "\n"), CATEGORIES)
    assert raised.value.missing == () and raised.value.unexpected == ()


def test_repeated_header_column() -> None:
    header = [*ROSTER_COLUMNS, "email"]
    with pytest.raises(RosterHeaderError) as raised:
        parse_roster(io.StringIO(",".join(header) + "\n"), CATEGORIES)
    assert raised.value.unexpected == ("email",)


def test_empty_file_is_a_header_error() -> None:
    with pytest.raises(RosterHeaderError, match="empty"):
        parse_roster(io.StringIO("\n\n"), CATEGORIES)


def test_headerless_file_does_not_echo_the_data_row() -> None:
    data_only = to_csv([link()]).splitlines()[1] + "\n"
    with pytest.raises(RosterHeaderError) as raised:
        parse_roster(io.StringIO(data_only), CATEGORIES)
    message = str(raised.value)
    assert "Nowak" not in message and "900123" not in message and "anna" not in message
    assert raised.value.unexpected == ()


def test_utf8_bom_is_ignored() -> None:
    raw = ("\ufeff" + to_csv([link(contact_last_name="Wójcik")])).encode("utf-8")
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline="")
    (row,) = list(parse_roster(stream, CATEGORIES))
    assert isinstance(row, RosterRow)
    assert row.contact_last_name == "Wójcik"
    assert row.line == 2


def test_header_cells_may_be_quoted_and_padded() -> None:
    header = ", ".join(f'"{column}"' for column in ROSTER_COLUMNS)
    body = to_csv([link()]).split("\n", 1)[1]
    text = "\ufeff" + header.replace(", ", ",") + "\n" + body
    assert only_row(text).line == 2


def test_blank_lines_are_skipped_and_counted() -> None:
    good = to_csv([link()]).splitlines()[1]
    text = f"\n{HEADER}\n\n{good}\n" + "," * (len(ROSTER_COLUMNS) - 1) + f"\n\n{good}\n\n"
    results = parse(text)
    assert [(type(result), result.line) for result in results] == [
        (RosterRow, 4),
        (RosterRow, 7),
    ]


def test_quoted_fields_with_commas_and_newlines_keep_line_numbers() -> None:
    text = to_csv(
        [
            link(relationship="Carer\n(foster, via the council)", class_="6B, upper"),  # 2-3
            link(student_id="S2", email="bad@"),  # 4
            link(student_id="S3", contact_last_name="Smith,\nJones\nBrown"),  # 5-7
            link(student_id="", groups="a\nb"),  # 8-9
            link(student_id="S5"),  # 10
        ]
    )
    results = parse(text)
    assert [(type(result).__name__, result.line) for result in results] == [
        ("RosterRow", 2),
        ("RowError", 4),
        ("RosterRow", 5),
        ("RowError", 8),
        ("RosterRow", 10),
    ]
    first = rows_of(results)[0]
    assert first.relationship == "Carer\n(foster, via the council)"
    assert first.class_name == "6B, upper"


def test_crlf_line_endings() -> None:
    text = to_csv([link(), link(student_id="S2", mobile="x")]).replace("\n", "\r\n")
    stream = io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8", newline="")
    results = list(parse_roster(stream, CATEGORIES))
    assert [(type(result).__name__, result.line) for result in results] == [
        ("RosterRow", 2),
        ("RowError", 3),
    ]


class _CountingLines:
    """A minimal text stream that counts the lines handed out."""

    def __init__(self, text: str) -> None:
        self._lines = iter(text.splitlines(keepends=True))
        self.lines_read = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.lines_read += 1
        return line


def test_parse_roster_streams() -> None:
    stream = _CountingLines(to_csv([link(student_id=f"S{n}") for n in range(1000)]))
    results = parse_roster(cast(TextIO, stream), CATEGORIES)
    first = next(results)
    assert isinstance(first, RosterRow) and first.student_id == "S0"
    assert stream.lines_read < 10


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("student_last_name", "N" * 101, "longer than 100 characters"),
        ("contact_first_name", "An\x00na", "contains a NUL byte"),
        ("student_id", "S\x1b[31m1", "contains a control character"),
        ("relationship", "m" * 10_000, "longer than 50 characters"),
        ("class_", "3" * 33, "longer than 32 characters"),
        ("language", "en-" + "a" * 33, "longer than 35 characters"),
        ("groups", "choir;" + "g" * 101, "item 2 is longer than 100 characters"),
        ("push_token", "t" * 501, "longer than 500 characters"),
        ("year", "\x00", "contains a NUL byte"),
    ],
)
def test_unstorable_cells_are_one_error_on_their_column(
    column: str, value: str, reason: str
) -> None:
    [error] = parse(to_csv([link(**{column: value})]))
    assert isinstance(error, RowError)
    assert (error.line, error.column) == (2, column.rstrip("_"))
    assert error.reason.startswith(reason)
    assert value not in error.reason


def test_column_limits_are_the_tables_lengths() -> None:
    from sqlalchemy import String

    from dispatcher.store.models import Contact, Student
    from dispatcher.triggers.roster.parse import COLUMN_LIMITS

    surname, email = Student.__table__.c.last_name.type, Contact.__table__.c.email.type
    assert isinstance(surname, String) and isinstance(email, String)
    assert (COLUMN_LIMITS["student_last_name"], COLUMN_LIMITS["email"]) == (
        surname.length,
        email.length,
    )
    [row] = parse(to_csv([link(student_last_name="N" * 100)]))  # exactly the limit fits
    assert isinstance(row, RosterRow)


def test_an_escaped_formula_cell_reads_back_without_its_quote() -> None:
    [row] = parse(to_csv([link(contact_first_name="'=Anna", student_last_name="'Nowak")]))
    assert isinstance(row, RosterRow)
    assert (row.contact_first_name, row.student_last_name) == ("=Anna", "'Nowak")


def test_count_utf8_lines_names_the_first_line_that_is_not() -> None:
    from dispatcher.triggers.roster.parse import RosterEncodingError, count_utf8_lines

    good = "header\nZoë\n".encode()
    assert count_utf8_lines(io.BytesIO(good)) == 2
    with pytest.raises(RosterEncodingError) as raised:
        count_utf8_lines(io.BytesIO(b"header\nok\nZo\xeb\nmore\xff\n"))
    assert raised.value.line == 3
    assert "line 3" in str(raised.value)


# --- a trust's roster: the school column ----------------------------------------------------


def test_a_trust_roster_names_each_rows_school_in_a_last_column() -> None:
    header = ",".join(TRUST_ROSTER_COLUMNS)
    body = to_csv([link()]).splitlines()[1]
    results = parse(
        "\n".join([header, body + ",sendat-a", body + ",", body + ",Sendat A", body]) + "\n"
    )
    assert [r.school for r in rows_of(results)] == ["sendat-a"]
    assert [(e.line, e.column) for e in errors_of(results)] == [
        (3, "school"),
        (4, "school"),
        (5, WHOLE_ROW),
    ]
    assert "required" in errors_of(results)[0].reason
    assert "Sendat" not in errors_of(results)[1].reason  # never the value
    # Without the column a row has no school (the import's --school places it).
    assert rows_of(parse(to_csv([link()])))[0].school is None


def test_the_school_column_must_come_last() -> None:
    columns = ("school", *ROSTER_COLUMNS)
    with pytest.raises(RosterHeaderError, match="wrong order"):
        parse(",".join(columns) + "\n")
