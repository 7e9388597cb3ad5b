"""GSM-7 / UCS-2 detection, segment counting and look-alike sanitising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.rendering.sms import (
    GSM_BASIC,
    GSM_EXTENSION,
    LOOK_ALIKES,
    encoded_length,
    normalise_whitespace,
    prepare_sms,
    sanitise_for_gsm,
    segment_count,
    sms_encoding,
)

WELSH = "Mae'r ŵyl yn dechrau ddydd Sadwrn. Dewch â'ch teulu i'r ŷd."
POLISH = "Szkoła będzie zamknięta we wtorek z powodu śniegu. Prosimy zostać w domu."
URDU = "اسکول منگل کو بند رہے گا۔ براہ کرم اپنے بچے کو گھر پر رکھیں۔"


# --- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hello, the school is closed today.",
        "Dinner money: £2.40 or €3; café, Señor, Ærø, ¿qué? ¡Ja! ß Δ Ω @ § _",
        "Line one\nLine two\r\n",
        "{}[]~|^\\€",
        "",
    ],
)
def test_gsm_7_text_is_detected(text: str) -> None:
    assert sms_encoding(text) == "GSM-7"


@pytest.mark.parametrize(
    "text",
    ["Garçon", "Pay by Friday 🙂", "Tab\there", "`backtick`", WELSH, POLISH, URDU],
)
def test_any_character_outside_gsm_7_makes_the_text_ucs_2(text: str) -> None:
    assert sms_encoding(text) == "UCS-2"


@pytest.mark.parametrize("char", sorted(GSM_EXTENSION))
def test_extension_characters_count_two_septets(char: str) -> None:
    assert encoded_length("a" + char) == 3
    assert segment_count(char * 80) == 1  # 160 septets
    assert segment_count(char * 80 + "a") == 2  # 161 septets


def test_alphabet_tables_are_the_gsm_03_38_sizes() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes less the escape to the extension table
    assert set("^{}\\[~]|€") <= GSM_EXTENSION
    assert not GSM_BASIC & GSM_EXTENSION


# --- segments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_7_segment_boundaries(length: int, segments: int) -> None:
    assert segment_count("a" * length) == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs_2_segment_boundaries(length: int, segments: int) -> None:
    assert segment_count("ł" * length) == segments


def test_empty_text_is_no_segments() -> None:
    assert segment_count("") == 0


def test_characters_outside_the_bmp_count_two_ucs_2_units() -> None:
    assert encoded_length("🙂") == 2
    assert segment_count("🙂" * 35) == 1  # 70 units
    assert segment_count("🙂" * 36) == 2  # 72 units


def test_an_escaped_character_is_never_split_across_segments() -> None:
    # 306 septets would be 2 segments by arithmetic, but the € (escape + code) at septets
    # 153-154 does not fit in the first segment, so it moves and a third is needed.
    text = "a" * 152 + "€" + "a" * 152
    assert encoded_length(text) == 306
    assert segment_count(text) == 3


# --- sanitising -------------------------------------------------------------------------


def test_a_pasted_curly_apostrophe_no_longer_makes_a_text_ucs_2() -> None:
    text = "Reminder: it’s PE tomorrow, so please send your child’s kit in a named bag. " * 2
    assert sms_encoding(text) == "UCS-2"
    assert segment_count(text) == 3

    sms = prepare_sms(text)

    assert sms.encoding == "GSM-7"
    assert sms.segments == 1
    assert "it's PE tomorrow" in sms.text


@pytest.mark.parametrize(
    ("look_alike", "replacement"),
    [
        ("‘quoted’", "'quoted'"),
        ("“quoted”", '"quoted"'),
        ("„Dzień dobry”", '"Dzień dobry"'),
        ("9–10 May", "9-10 May"),
        ("Closed — snow", "Closed - snow"),
        ("−5°", "-5°"),
        ("Wait…", "Wait..."),
        ("£2\u00a0each", "£2 each"),
        ("8\u202fam", "8 am"),
        ("no\u200bbreak", "nobreak"),
        ("\ufeffBOM", "BOM"),
        ("• PE kit", "- PE kit"),
        ("Tab\there", "Tab here"),
        ("e\u0301", "é"),
    ],
)
def test_look_alikes_become_gsm_7(look_alike: str, replacement: str) -> None:
    assert sanitise_for_gsm(look_alike) == replacement


@pytest.mark.parametrize("text", [WELSH, POLISH, URDU, "Garçon", "Pay by Friday 🙂"])
def test_letters_without_a_gsm_7_form_are_kept_so_the_text_stays_ucs_2(text: str) -> None:
    assert sanitise_for_gsm(text) == text
    assert prepare_sms(text).encoding == "UCS-2"


@pytest.mark.parametrize("letter", ["ŵ", "ŷ", "ł", "ą", "ę", "ś", "ż", "ź", "ć", "ń", "ó", "ے"])
def test_no_letter_is_downgraded(letter: str) -> None:
    assert sanitise_for_gsm(f"a{letter}b") == f"a{letter}b"


def test_gsm_accented_letters_are_kept() -> None:
    assert sanitise_for_gsm("Café à Düsseldorf, Señor Müller") == "Café à Düsseldorf, Señor Müller"


def test_joiners_are_kept_in_ucs_2_text_and_removed_from_gsm_text() -> None:
    persian = "می\u200cخواهم"  # the zero-width non-joiner is part of the spelling
    assert sanitise_for_gsm(persian) == persian
    assert sanitise_for_gsm("School\u200d closed\u200e") == "School closed"


# --- prepare_sms ------------------------------------------------------------------------


def test_prepare_sms_tidies_whitespace_and_measures() -> None:
    sms = prepare_sms("  School closed today.   \r\n\r\n\r\n\r\nMore soon.  \n")

    assert sms.text == "School closed today.\n\nMore soon."
    assert sms.encoding == "GSM-7"
    assert sms.segments == 1
    assert sms.characters == len(sms.text)


def test_normalise_whitespace_keeps_single_blank_lines() -> None:
    assert normalise_whitespace("a\n\nb\n\n\nc") == "a\n\nb\n\nc"


_GSM_CHARACTERS = sorted(GSM_BASIC | GSM_EXTENSION)


@given(st.text(alphabet=st.sampled_from(_GSM_CHARACTERS + sorted(LOOK_ALIKES))))
def test_gsm_text_with_look_alikes_always_comes_out_gsm_7(text: str) -> None:
    sms = prepare_sms(text)

    assert sms.encoding == "GSM-7"
    assert sms.segments == segment_count(sms.text)


@given(st.text(alphabet=st.sampled_from(_GSM_CHARACTERS)))
def test_sanitising_never_changes_gsm_7_text(text: str) -> None:
    assert sanitise_for_gsm(text) == text


@given(st.text())
def test_sanitising_twice_is_the_same_as_once(text: str) -> None:
    once = sanitise_for_gsm(text)
    assert sanitise_for_gsm(once) == once
