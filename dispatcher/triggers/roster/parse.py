"""Read a school roster CSV (one row per student-contact link) into validated rows.

The roster is the MIS export the office uploads. :func:`parse_roster` checks the header, then
streams one :class:`RosterRow` per good line and :class:`RowError` values for bad ones, so a
few typos never block the whole import.

Personal data (names, phones, emails, push tokens) never appears in an exception message or an
error reason: a reason names the column and the problem, never the value.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, TextIO, TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

from dispatcher.domain import EMERGENCY_ONLY, FIRST_CONTACT, SECOND_CONTACT, Channel, Need
from dispatcher.store.models import Contact, Group, Student, StudentContact

ROSTER_COLUMNS: Final[tuple[str, ...]] = (
    "student_id",
    "student_first_name",
    "student_last_name",
    "year",
    "class",
    "groups",
    "contact_id",
    "contact_first_name",
    "contact_last_name",
    "relationship",
    "priority",
    "parental_responsibility",
    "no_contact",
    "mobile",
    "email",
    "preferred_channel",
    "language",
    "needs",
    "opt_outs",
    "push_token",
)

#: An optional last column naming each row's school (its slug): a trust's roster, imported
#: with ``dispatcher roster import FILE --trust SLUG``, places each student in a member school.
SCHOOL_COLUMN: Final = "school"
TRUST_ROSTER_COLUMNS: Final[tuple[str, ...]] = (*ROSTER_COLUMNS, SCHOOL_COLUMN)

#: ``RowError.column`` when the problem is the record as a whole (wrong number of fields,
#: unreadable CSV), not one column.
WHOLE_ROW: Final = "*"

#: Columns that must not be empty.
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (
    "student_id",
    "student_first_name",
    "student_last_name",
    "contact_id",
    "contact_last_name",
)

LIST_SEPARATOR: Final = ";"

_LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
_WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]{1,3}$")
_MAX_PHONE_LENGTH = 40
#: Python's ``\s`` is ``str.isspace``: one regular-expression search instead of a loop.
_WHITESPACE = re.compile(r"\s")
_SMS_CAPABLE_TYPES: Final = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# Ofcom's ranges reserved for drama and tests: never allocated, so libphonenumber calls them
# invalid. Accepting them lets demo and test rosters use numbers that can never reach anyone.
_OFCOM_DRAMA_MOBILE = re.compile(r"^\+447700900[0-9]{3}$")
_OFCOM_DRAMA_LANDLINE = re.compile(r"^\+441632960[0-9]{3}$")
# The shapes most UK numbers in an MIS export take once spaces, dashes, dots, slashes and
# brackets are gone: 0 or +44, then ten digits not starting with 0. Read without
# ``phonenumbers.parse`` (which tries every other shape first): see ``_uk_ten_digits``.
_PHONE_SEPARATORS = re.compile(r"[ ()./-]")
_UK_TEN_DIGITS = re.compile(r"^(?:0|\+44)([1-9][0-9]{9})$")
# An email address's part before the @ made of plain ASCII letters, digits and the other
# characters RFC 5322 allows unquoted (email-validator's own DOT_ATOM_TEXT).
_PLAIN_LOCAL_PART = re.compile(
    r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+)*\Z"
)
_MAX_PLAIN_LOCAL_PART = 64
_MAX_EMAIL_LENGTH = 254
_CASE_INSENSITIVE_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _length(column: object) -> int:
    length = getattr(getattr(column, "type", None), "length", None)
    assert isinstance(length, int), f"{column} has no length"
    return length


#: The longest text each column may hold: the length of the table column it is stored in,
#: read from the tables so the two cannot drift apart (PostgreSQL refuses a longer value).
COLUMN_LIMITS: Final[Mapping[str, int]] = {
    "student_id": _length(Student.__table__.c.external_id),
    "student_first_name": _length(Student.__table__.c.first_name),
    "student_last_name": _length(Student.__table__.c.last_name),
    "class": _length(Student.__table__.c.class_name),
    "contact_id": _length(Contact.__table__.c.external_id),
    "contact_first_name": _length(Contact.__table__.c.first_name),
    "contact_last_name": _length(Contact.__table__.c.last_name),
    "relationship": _length(StudentContact.__table__.c.relationship),
    "email": _length(Contact.__table__.c.email),
    "language": _length(Contact.__table__.c.language),
    "push_token": _length(Contact.__table__.c.push_token),
}
#: The longest name of one group in the ``groups`` column.
GROUP_NAME_LIMIT: Final = _length(Group.__table__.c.name)

_MIN_YEAR, _MAX_YEAR = -1, 14
_YEAR_LETTERS: Final[Mapping[str, int]] = {"N": -1, "R": 0}
_PRIORITIES: Final = (FIRST_CONTACT, SECOND_CONTACT, EMERGENCY_ONLY)


@dataclass(frozen=True)
class PhoneNumber:
    """A phone number in E.164 form and whether it can receive text messages."""

    e164: str
    sms_capable: bool


@dataclass(frozen=True)
class RosterRow:
    """One validated student-contact link. ``line`` is where the record starts in the file."""

    line: int
    student_id: str
    student_first_name: str
    student_last_name: str
    year: int | None
    class_name: str | None
    groups: tuple[str, ...]
    contact_id: str
    contact_first_name: str
    contact_last_name: str
    relationship: str
    priority: int
    parental_responsibility: bool
    no_contact: bool
    phone: PhoneNumber | None
    email: str | None
    preferred_channel: Channel | None
    language: str | None
    needs: frozenset[Need]
    opt_outs: frozenset[str]
    push_token: str | None
    #: The ``school`` column's slug, in a trust's roster; None without the column.
    school: str | None = None


@dataclass(frozen=True)
class RowError:
    """A problem with one column of one record; never contains the offending value.

    ``line`` is the physical line (header = 1) where the record starts; ``column`` is the CSV
    column name, or :data:`WHOLE_ROW` when the record as a whole is unusable.
    """

    line: int
    column: str
    reason: str


class RosterHeaderError(ValueError):
    """The first line is not the roster header; says which columns are missing/unexpected."""

    def __init__(
        self, message: str, missing: tuple[str, ...] = (), unexpected: tuple[str, ...] = ()
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        super().__init__(message)


class RosterEncodingError(ValueError):
    """The file is not UTF-8 text; ``line`` is the first line that is not."""

    def __init__(self, line: int) -> None:
        self.line = line
        super().__init__(
            f"not UTF-8 text (line {line} is the first that is not); save the file as UTF-8 "
            "(in Excel: CSV UTF-8) and import it again"
        )


def count_utf8_lines(lines: Iterable[bytes]) -> int:
    """How many lines ``lines`` (a file opened in binary) has. Raises
    :class:`RosterEncodingError` naming the first line that is not UTF-8 (the message never
    contains the bytes: they may be part of a name)."""
    count = 0
    for count, raw in enumerate(lines, start=1):  # the count is the answer
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RosterEncodingError(count) from None
    return count


def normalise_phone(raw: str, region: str = "GB") -> PhoneNumber:
    """Return ``raw`` as E.164 with whether it can take SMS (mobile or fixed-line-or-mobile).

    Numbers without a ``+`` prefix are read as ``region`` numbers. A valid number of another
    type (landline, VoIP, freephone...) is kept with ``sms_capable=False``. Ofcom's drama
    ranges (07700 900000-900999 mobile, 01632 960000-960999 landline) are accepted although
    they are never allocated. Raises ``ValueError`` whose message never contains the number.
    """
    text = raw.strip()
    if not text:
        raise ValueError("empty phone number")
    if len(text) > _MAX_PHONE_LENGTH:
        raise ValueError("too long to be a phone number")
    if not _PHONE_CHARS.match(text):
        raise ValueError("contains characters other than digits, spaces, +, -, (, ), . or /")
    if region == "GB":
        quick = _uk_ten_digits(text)
        if quick is not None:
            return quick
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise ValueError(_parse_failure_reason(exc.error_type)) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if _OFCOM_DRAMA_MOBILE.match(e164):
        return PhoneNumber(e164=e164, sms_capable=True)
    if _OFCOM_DRAMA_LANDLINE.match(e164):
        return PhoneNumber(e164=e164, sms_capable=False)
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(_invalid_number_reason(parsed))
    number_type = phonenumbers.number_type(parsed)
    return PhoneNumber(e164=e164, sms_capable=number_type in _SMS_CAPABLE_TYPES)


def _uk_ten_digits(text: str) -> PhoneNumber | None:
    """``text`` read as ``phonenumbers.parse(text, "GB")`` would, when it is a valid UK number
    in the usual shape (0 or +44 and ten digits); None for anything else, which the caller
    then reads the long way (and so gets the same reasons for an invalid number). Parsing is
    most of a roster row's cost; this reads the common numbers five times as fast.
    tests/unit/triggers/roster/test_parse_quick_paths.py checks it agrees with ``parse``."""
    shape = _UK_TEN_DIGITS.match(_PHONE_SEPARATORS.sub("", text))
    if shape is None:
        return None
    national = shape.group(1)
    e164 = "+44" + national
    if _OFCOM_DRAMA_MOBILE.match(e164):
        return PhoneNumber(e164=e164, sms_capable=True)
    if _OFCOM_DRAMA_LANDLINE.match(e164):
        return PhoneNumber(e164=e164, sms_capable=False)
    number = phonenumbers.PhoneNumber(country_code=44, national_number=int(national))
    if not phonenumbers.is_valid_number(number):
        return None
    return PhoneNumber(
        e164=e164, sms_capable=phonenumbers.number_type(number) in _SMS_CAPABLE_TYPES
    )


def _parse_failure_reason(error_type: int) -> str:
    reasons = {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        NumberParseException.NOT_A_NUMBER: "not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short to be a phone number",
        NumberParseException.TOO_SHORT_NSN: "too short to be a phone number",
        NumberParseException.TOO_LONG: "too long to be a phone number",
    }
    return reasons.get(error_type, "not a phone number")


def _invalid_number_reason(parsed: phonenumbers.PhoneNumber) -> str:
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return "not a valid phone number (too few digits)"
    if possible == ValidationResult.TOO_LONG:
        return "not a valid phone number (too many digits)"
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        return "not a valid phone number (unknown country code)"
    if possible == ValidationResult.INVALID_LENGTH:
        return "not a valid phone number (wrong number of digits)"
    return "not a valid phone number (no such number range)"


def normalise_email(raw: str) -> str:
    """Return the normalised form of email address ``raw`` (syntax only, no DNS lookup).

    Raises ``ValueError`` whose message never contains the address.
    """
    text = raw.strip()
    if text.count("@") != 1:
        raise ValueError("not a valid email address (needs exactly one @)")
    if _WHITESPACE.search(text):
        raise ValueError("not a valid email address (contains spaces)")
    local_part, _, domain = text.partition("@")
    if (
        len(text) <= _MAX_EMAIL_LENGTH
        and len(local_part) <= _MAX_PLAIN_LOCAL_PART
        and domain.isascii()
        and _PLAIN_LOCAL_PART.match(local_part)
        and local_part.lower() not in _CASE_INSENSITIVE_MAILBOXES
    ):
        # A plain part before the @ is kept as it is (email-validator returns it unchanged):
        # only the domain needs the library, and a roster has few domains.
        normalised_domain = _normalised_email_domain(domain)
        if normalised_domain is not None:
            return local_part + "@" + normalised_domain
    try:
        validated = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        # The library's message quotes parts of the address: do not pass it on.
        raise ValueError("not a valid email address") from None
    return validated.normalized


@functools.lru_cache(maxsize=4096)
def _normalised_email_domain(domain: str) -> str | None:
    """The normalised form of an email domain (lower case), or None when email-validator
    refuses it. Checked once per domain: most of an address's checking is its domain's, and
    thousands of families share a few domains. tests/unit/triggers/roster/
    test_parse_quick_paths.py checks the result agrees with checking each address whole."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalise_language(raw: str) -> str:
    """Return BCP 47 tag ``raw`` as given but with a lower-case primary subtag.

    Only the shape is checked (``^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$``); raises ``ValueError``.
    """
    text = raw.strip()
    if not _LANGUAGE_TAG.match(text):
        raise ValueError("not a language tag like en, pl or pt-BR")
    primary, dash, rest = text.partition("-")
    return primary.lower() + dash + rest


def parse_roster(
    stream: TextIO, known_categories: Collection[str]
) -> Iterator[RosterRow | RowError]:
    """Check the header now, then lazily yield a row or errors for each record of ``stream``.

    Raises :class:`RosterHeaderError` immediately if the first non-blank line is not exactly
    :data:`ROSTER_COLUMNS`, or those and a last ``school`` column (:data:`TRUST_ROSTER_COLUMNS`;
    each row's ``RosterRow.school``), a UTF-8 BOM before it ignored. Afterwards each record yields
    either one :class:`RosterRow` or, when anything is wrong, one :class:`RowError` per bad
    column (in column order) and no row. A record with the wrong number of fields yields a
    single ``WHOLE_ROW`` error. Blank lines and lines of only empty fields are skipped.
    ``line`` numbers are physical lines where each record starts, also after quoted fields
    spanning several lines. ``opt_outs`` must name categories in ``known_categories``
    (case-insensitively); the row keeps the names as spelt in ``known_categories``.
    """
    reader = csv.reader(_without_bom(stream))
    columns = _read_header(reader)
    categories = {name.lower(): name for name in known_categories}
    return _records(reader, categories, columns)


class _CsvReader(Protocol):
    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def _without_bom(stream: TextIO) -> Iterator[str]:
    first = True
    for text in stream:
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def _read_header(reader: _CsvReader) -> tuple[str, ...]:
    for record in reader:
        cells = [cell.strip() for cell in record]
        if not any(cells):
            continue
        if tuple(cells) == TRUST_ROSTER_COLUMNS:
            return TRUST_ROSTER_COLUMNS
        _check_header(tuple(cells))
        return ROSTER_COLUMNS
    raise RosterHeaderError(
        "the roster is empty; expected a header line: " + ",".join(ROSTER_COLUMNS),
        missing=ROSTER_COLUMNS,
    )


def _check_header(header: tuple[str, ...]) -> None:
    if header == ROSTER_COLUMNS:
        return
    expected = set(ROSTER_COLUMNS)
    if not expected.intersection(header):
        # Most likely a data row (header missing): never echo its cells.
        raise RosterHeaderError(
            "the first line is not the roster header (none of the expected columns found); "
            "expected: " + ",".join(ROSTER_COLUMNS),
            missing=ROSTER_COLUMNS,
        )
    missing = tuple(column for column in ROSTER_COLUMNS if column not in header)
    counts = Counter(header)
    unexpected = tuple(
        _short(name)
        for name in dict.fromkeys(header)
        if (name not in expected and name != SCHOOL_COLUMN) or counts[name] > 1
    )
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected or repeated columns: " + ", ".join(unexpected))
    if not problems:
        problems.append("columns are in the wrong order")
    raise RosterHeaderError(
        "roster header: " + "; ".join(problems) + "; expected: " + ",".join(ROSTER_COLUMNS),
        missing=missing,
        unexpected=unexpected,
    )


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[:limit] + "..."


def _records(
    reader: _CsvReader, categories: Mapping[str, str], columns: tuple[str, ...] = ROSTER_COLUMNS
) -> Iterator[RosterRow | RowError]:
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield RowError(start, WHOLE_ROW, f"unreadable CSV record ({_csv_problem(exc)})")
            continue
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            yield RowError(
                start,
                WHOLE_ROW,
                f"has {len(record)} fields, expected {len(columns)}",
            )
            continue
        yield from _parse_record(start, dict(zip(columns, record, strict=True)), categories)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    # csv's messages describe the structure ("field larger than field limit"); keep them short
    # and never long enough to carry a cell's content.
    return text if len(text) <= 60 and "'" not in text and '"' not in text else "malformed"


_T = TypeVar("_T")

#: A cell that the product's CSV writer (``dispatcher.reporting.csv_safe``) escaped: a single
#: quote before a character a spreadsheet takes as the start of a formula.
_ESCAPED_FORMULA = ("'=", "'+", "'-", "'@", "'\t", "'\r")


def _unescaped(text: str) -> str:
    """A cell as it was before the product's CSV writer escaped it, so a roster written by
    ``dispatcher demo-data`` (or re-saved from an export) reads back as it was written."""
    return text[1:] if text.startswith(_ESCAPED_FORMULA) else text


_ALLOWED_CONTROLS: Final = frozenset("\t\n\r")
_NO_LIMIT: Final = 1 << 62


def cell_problem(column: str, value: str) -> str | None:
    """What makes ``value`` (stripped) unusable in ``column`` whatever the column means: a NUL
    byte, another control character (tabs and line breaks, which a quoted cell may hold, are
    kept), or more characters than the table column holds (:data:`COLUMN_LIMITS`). None when
    it has none of these."""
    if "\x00" in value:
        return "contains a NUL byte"
    # isprintable() is False for every control character (and some others): a quick way past
    # the character-by-character look for the ordinary cell.
    if not value.isprintable() and any(
        unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in value
    ):
        return "contains a control character (an invisible code other than a tab or line break)"
    limit = COLUMN_LIMITS.get(column)
    if limit is not None and len(value) > limit:
        return f"longer than {limit} characters"
    return None


class _RowParser:
    """Collects each column's value or its error for one record."""

    def __init__(self, line: int, values: Mapping[str, str]) -> None:
        self.line = line
        self.values: dict[str, str] = {}
        self.errors: list[RowError] = []
        self.unusable: set[str] = set()
        for column, raw in values.items():
            value = raw.strip()
            if value[:1] == "'":
                value = _unescaped(value)
            self.values[column] = value
            # The quick test first: an ordinary cell (printable, short enough) has no problem.
            if value.isprintable() and len(value) <= COLUMN_LIMITS.get(column, _NO_LIMIT):
                continue
            problem = cell_problem(column, value)
            if problem is not None:
                self.errors.append(RowError(line, column, problem))
                self.unusable.add(column)

    def field(self, column: str, convert: Callable[[str], _T], default: _T) -> _T:
        """Convert ``column``'s text; on ``ValueError`` record the reason and return default."""
        if column in self.unusable:
            return default
        try:
            return convert(self.values[column])
        except ValueError as exc:
            self.errors.append(RowError(self.line, column, str(exc)))
            return default

    def text(self, column: str) -> str:
        """The stripped text of ``column``; records an error if it is required but empty."""
        if column in self.unusable:
            return ""
        value = self.values[column]
        if not value and column in REQUIRED_COLUMNS:
            self.errors.append(RowError(self.line, column, "required but empty"))
        return value


def _parse_record(
    line: int, values: Mapping[str, str], categories: Mapping[str, str]
) -> Iterator[RosterRow | RowError]:
    p = _RowParser(line, values)
    row = RosterRow(
        line=line,
        student_id=p.text("student_id"),
        student_first_name=p.text("student_first_name"),
        student_last_name=p.text("student_last_name"),
        year=p.field("year", _year, None),
        class_name=p.text("class") or None,
        groups=p.field("groups", _groups, ()),
        contact_id=p.text("contact_id"),
        contact_first_name=p.text("contact_first_name"),
        contact_last_name=p.text("contact_last_name"),
        relationship=p.text("relationship"),
        priority=p.field("priority", _priority, EMERGENCY_ONLY),
        parental_responsibility=p.field("parental_responsibility", _yes_default, True),
        no_contact=p.field("no_contact", _no_default, False),
        phone=p.field("mobile", _optional(normalise_phone), None),
        email=p.field("email", _optional(normalise_email), None),
        preferred_channel=p.field("preferred_channel", parse_channel, None),
        language=p.field("language", _optional(normalise_language), None),
        needs=p.field("needs", parse_needs, frozenset()),
        opt_outs=p.field("opt_outs", lambda text: _opt_outs(text, categories), frozenset()),
        push_token=p.field("push_token", _push_token, None),
        school=p.field(SCHOOL_COLUMN, _school_slug, None) if SCHOOL_COLUMN in values else None,
    )
    if p.errors:
        order = {column: index for index, column in enumerate(TRUST_ROSTER_COLUMNS)}
        yield from sorted(p.errors, key=lambda error: order[error.column])
    else:
        yield row


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _school_slug(text: str) -> str:
    if not text:
        raise ValueError("required but empty; expected the slug of a member school")
    if not _SLUG.match(text):
        raise ValueError("must be a school's slug (lower-case letters, digits and dashes)")
    return text


def _optional(convert: Callable[[str], _T]) -> Callable[[str], _T | None]:
    def convert_or_none(text: str) -> _T | None:
        return convert(text) if text else None

    return convert_or_none


def _list(text: str) -> tuple[str, ...]:
    items = (item.strip() for item in text.split(LIST_SEPARATOR))
    return tuple(dict.fromkeys(item for item in items if item))


def _groups(text: str) -> tuple[str, ...]:
    names = _list(text)
    for position, name in enumerate(names, start=1):
        if len(name) > GROUP_NAME_LIMIT:
            raise ValueError(f"item {position} is longer than {GROUP_NAME_LIMIT} characters")
    return names


def _year(text: str) -> int | None:
    if not text:
        return None
    if text.upper() in _YEAR_LETTERS:
        return _YEAR_LETTERS[text.upper()]
    if _WHOLE_NUMBER.match(text) and _MIN_YEAR <= int(text) <= _MAX_YEAR:
        return int(text)
    raise ValueError(f"must be a year group from {_MIN_YEAR} to {_MAX_YEAR}, R, N or empty")


def _priority(text: str) -> int:
    if not text:
        raise ValueError("required but empty; expected 1, 2 or 3")
    if _WHOLE_NUMBER.match(text) and int(text) in _PRIORITIES:
        return int(text)
    raise ValueError("must be 1 (first contact), 2 (second contact) or 3 (emergency only)")


def _flag(text: str, default: bool) -> bool:
    if not text:
        return default
    upper = text.upper()
    if upper == "Y":
        return True
    if upper == "N":
        return False
    raise ValueError("must be Y, N or empty")


def _yes_default(text: str) -> bool:
    return _flag(text, default=True)


def _no_default(text: str) -> bool:
    return _flag(text, default=False)


def parse_channel(text: str) -> Channel | None:
    """A preferred-channel cell: ``sms``, ``email``, ``push`` (any case) or empty (None)."""
    if not text:
        return None
    try:
        return Channel(text.lower())
    except ValueError:
        raise ValueError(
            "must be one of " + ", ".join(channel.value for channel in Channel) + " or empty"
        ) from None


def parse_needs(text: str) -> frozenset[Need]:
    """A needs cell: needs separated by ``LIST_SEPARATOR`` (see ``Need``); unknown: error."""
    needs: list[Need] = []
    for position, item in enumerate(_list(text), start=1):
        try:
            needs.append(Need(item.lower()))
        except ValueError:
            raise ValueError(
                f"item {position} is not a known need; expected any of "
                + ", ".join(need.value for need in Need)
            ) from None
    return frozenset(needs)


def _opt_outs(text: str, categories: Mapping[str, str]) -> frozenset[str]:
    names: list[str] = []
    for position, item in enumerate(_list(text), start=1):
        name = categories.get(item.lower())
        if name is None:
            known = ", ".join(sorted(categories.values())) or "none"
            raise ValueError(f"item {position} is not a known category; known: {known}")
        names.append(name)
    return frozenset(names)


def _push_token(text: str) -> str | None:
    if not text:
        return None
    if _WHITESPACE.search(text):
        raise ValueError("must not contain spaces or line breaks")
    return text
