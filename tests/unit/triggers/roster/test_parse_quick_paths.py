"""The roster parser's quick paths agree with the libraries they stand in for: a UK number in
the usual shape read without ``phonenumbers.parse``, an email address whose domain was
checked once for the whole roster."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.triggers.roster.parse import (
    PhoneNumber,
    _uk_ten_digits,
    normalise_email,
    normalise_phone,
)


def _parsed_the_long_way(text: str) -> PhoneNumber | None:
    parsed = phonenumbers.parse(text, "GB")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164.startswith("+447700900"):
        return PhoneNumber(e164, True)
    if e164.startswith("+441632960"):
        return PhoneNumber(e164, False)
    if not phonenumbers.is_valid_number(parsed):
        return None
    kind = phonenumbers.number_type(parsed)
    return PhoneNumber(
        e164,
        kind
        in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE),
    )


uk_numbers = st.builds(
    lambda prefix, first, rest, gap: prefix + first + gap + rest,
    st.sampled_from(["0", "+44", "+44 ", "0 "]),
    st.sampled_from(["1", "2", "3", "7", "8", "9", "4", "5", "6"]),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.sampled_from(["", " ", "-", ") "]),
)


@settings(max_examples=400, deadline=None)
@given(uk_numbers)
def test_a_uk_number_read_quickly_is_what_phonenumbers_reads(text: str) -> None:
    quick = _uk_ten_digits(text)
    long_way = _parsed_the_long_way(text)
    if quick is not None:
        assert quick == long_way
    else:  # only invalid numbers are left to the long way (which gives the reason)
        assert long_way is None


def test_common_shapes_take_the_quick_path_and_the_rest_the_long_one() -> None:
    assert _uk_ten_digits("07700 900123") == PhoneNumber("+447700900123", True)
    assert _uk_ten_digits("+44 7911 123456") == PhoneNumber("+447911123456", True)
    assert _uk_ten_digits("020 7946 0000") == PhoneNumber("+442079460000", False)
    assert _uk_ten_digits("+1 202 555 0143") is None  # not UK: the long way
    assert _uk_ten_digits("0044 7911 123456") is None
    assert normalise_phone("0044 7911 123456") == PhoneNumber("+447911123456", True)


local_parts = st.from_regex(r"\A[A-Za-z0-9_!#$%&'*+/=?^`{|}~.-]{1,70}\Z")
domains = st.sampled_from(
    [
        "example.com",
        "Example.ORG",
        "mail.example.co.uk",
        "localhost",
        "example",
        "-bad.example.com",
        "exa_mple.com",
        "xn--bcher-kva.example",
        "a" * 64 + ".com",
        "123.456",
        "example.invalid",
        "sub..example.com",
    ]
)


@settings(max_examples=400, deadline=None)
@given(local_parts, domains)
def test_an_address_checked_by_its_domain_once_is_what_email_validator_says(
    local: str, domain: str
) -> None:
    address = f"{local}@{domain}"
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalise_email(address)
    except ValueError:
        got = None
    assert got == expected
