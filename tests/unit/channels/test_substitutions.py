"""Tagging each family's own names so that many families share one email content."""

from __future__ import annotations

import pytest
from markupsafe import escape

from dispatcher.channels.substitutions import MAX_SUBSTITUTION_BYTES, Tagged, tag_personal


def put_back(tagged: Tagged, order: list[str] | None = None) -> tuple[list[str], str | None]:
    """What SendGrid delivers: every tag replaced by its value (in the order given)."""
    keys = order if order is not None else list(tagged.substitutions)

    def fill(text: str) -> str:
        for tag in keys:
            text = text.replace(tag, tagged.substitutions[tag])
        return text

    return [fill(t) for t in tagged.plain], None if tagged.html is None else fill(tagged.html)


def letter(contact: str, students: list[str]) -> tuple[list[str], str]:
    kids = " and ".join(students)
    subject = "School closed on Tuesday"
    text = f"Dear {contact},\n\nThe school is closed. Please keep {kids} at home.\n"
    html = f"<p>Dear {escape(contact)},</p><p>Please keep {escape(kids)} at home.</p>"
    return [subject, text], html


FAMILIES = [
    ("Anne", ["Amy"]),
    ("Sean", ["Ben"]),
    ("Siobhán", ["Zoë"]),
    ("عائشہ", ["علی"]),
    ("Mary-Jane", ["Tom"]),
]


def test_families_differing_only_by_names_share_one_content() -> None:
    contents: set[tuple[tuple[str, ...], str | None]] = set()
    for contact, students in FAMILIES:
        plain, html = letter(contact, students)
        tagged = tag_personal(plain, html, (contact, *students))
        assert tagged is not None
        contents.add((tagged.plain, tagged.html))
        assert put_back(tagged) == (plain, html)
    assert len(contents) == 1
    [(shared_plain, shared_html)] = contents
    assert shared_plain[1] == "Dear %dp0%,\n\nThe school is closed. Please keep %dp1% at home.\n"
    assert shared_html == "<p>Dear %dh0%,</p><p>Please keep %dh1% at home.</p>"


def test_html_gets_the_escaped_value_under_its_own_tag() -> None:
    plain, html = letter("Ann & Joe", ["D'Arcy"])
    tagged = tag_personal(plain, html, ("Ann & Joe", "D'Arcy"))
    assert tagged is not None
    assert tagged.substitutions == {
        "%dp0%": "Ann & Joe",
        "%dh0%": "Ann &amp; Joe",
        "%dp1%": "D'Arcy",
        "%dh1%": "D&#39;Arcy",
    }
    assert put_back(tagged) == (plain, html)


def test_only_whole_words_are_tagged() -> None:
    # "Ed" inside "closed" and "Ann" inside "Annual" stay as they are.
    plain = ["Annual closure", "Dear Ed, the school is closed. Ann, Annabel: see the Annual."]
    tagged = tag_personal(plain, None, ("Ed", "Ann", "Annabel"))
    assert tagged is not None
    assert tagged.plain == (
        "Annual closure",
        "Dear %dp0%, the school is closed. %dp1%, %dp2%: see the Annual.",
    )
    assert put_back(tagged) == (plain, None)
    touching = tag_personal(["AnnAnn Ann_1 Ann.", "Ann"], None, ("Ann",))
    assert touching is not None
    assert touching.plain == ("AnnAnn Ann_1 %dp0%.", "%dp0%")


def test_any_order_of_substitution_gives_the_rendered_message() -> None:
    plain, html = letter("Sam", ["Samantha", "Sam"])  # a name that is part of another
    tagged = tag_personal(plain, html, ("Sam", "Samantha", "Sam"))
    assert tagged is not None
    keys = list(tagged.substitutions)
    assert put_back(tagged, keys) == put_back(tagged, list(reversed(keys))) == (plain, html)


@pytest.mark.parametrize(
    ("plain", "personal", "why"),
    [
        (["Dear 50%,", "x"], ("50%",), "a value holding the tags' character"),
        (["Save 10%dp on fees", "Dear Anne"], ("Anne",), "a message already holding a tag start"),
        (["Dear Anne", "Anne"], ("Anne", "dp0"), "a value found inside a written tag"),
        (["Dear " + "x" * 11000, "x"], ("x" * 11000,), "substitutions beyond SendGrid's limit"),
    ],
)
def test_refuses_whenever_putting_back_could_differ(
    plain: list[str], personal: tuple[str, ...], why: str
) -> None:
    assert MAX_SUBSTITUTION_BYTES == 10_000
    assert tag_personal(plain, None, personal) is None, why


def test_names_absent_from_the_message_need_no_substitution() -> None:
    tagged = tag_personal(["Closed", "The school is closed."], None, ("Anne", "Amy", ""))
    assert tagged == Tagged(("Closed", "The school is closed."), None, {})
