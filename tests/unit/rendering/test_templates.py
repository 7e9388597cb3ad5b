"""The real templates, rendered through TemplateLibrary: every category, channel and language."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dispatcher.domain import Channel, MessageFormat
from dispatcher.rendering.templates import (
    PUSH_BODY_LIMIT,
    MissingVariable,
    RenderedMessage,
    SmsTooLong,
    TemplateError,
    TemplateLibrary,
    join_names,
    text_direction,
)
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR

SCHOOL = {
    "name": "St Mary's Catholic Primary School",
    "phone": "01632 960000",
    "website": "https://www.st-marys-primary.example.sch.uk",
    "reply_to": "office@st-marys-primary.example.sch.uk",
}

#: Realistic values for every variable of every category, optional ones included.
SAMPLE_VARIABLES: dict[str, dict[str, str]] = {
    "emergency_closure": {
        "date": "Tuesday 24 November",
        "reason": "heavy snow",
        "reopening": "Wednesday 25 November",
        "details_url": "https://www.st-marys-primary.example.sch.uk/closures",
    },
    "short_notice_change": {
        "date": "Friday 27 November",
        "change": "School will finish at 1:30pm because the heating has failed.",
        "details_url": "https://www.st-marys-primary.example.sch.uk/news/early-finish",
    },
    "payment_request": {
        "item": "the Year 5 trip to the Science Museum",
        "amount": "£45.00",
        "due_date": "Friday 4 December",
        "payment_link": "https://www.parentpay.com/public/client/security/v3/#/login",
    },
    "trip_letter": {
        "trip": "the Year 4 trip to Chester Zoo",
        "date": "Friday 12 June",
        "letter_url": "https://www.st-marys-primary.example.sch.uk/letters/y4-chester-zoo.pdf",
        "cost": "£18.50",
        "reply_by": "Friday 29 May",
    },
    "consent_request": {
        "activity": "the Year 6 residential trip to Robinwood",
        "reply_by": "Monday 7 December",
        "form_url": "https://forms.example.com/st-marys/y6-robinwood",
    },
    "term_dates": {
        "event": "Spring term starts",
        "date": "Monday 5 January",
        "details": "The school gates open at 8:40am. Breakfast club starts again the same day.",
    },
    "event_reminder": {
        "event": "the Christmas concert",
        "date": "Thursday 17 December",
        "time": "2pm",
        "details": "Please come to the main hall. Each family can bring two guests.",
    },
    "newsletter": {
        "title": "Spring newsletter 2025",
        "url": "https://www.st-marys-primary.example.sch.uk/newsletters/spring-2025",
    },
    "survey": {
        "title": "Parent survey 2025",
        "url": "https://forms.example.com/st-marys/parent-survey",
        "closes": "Friday 4 December",
    },
}

REQUIRED: dict[str, set[str]] = {
    "emergency_closure": {"date", "reason"},
    "short_notice_change": {"date", "change"},
    "payment_request": {"item", "amount", "due_date", "payment_link"},
    "trip_letter": {"trip", "date", "letter_url"},
    "consent_request": {"activity", "reply_by", "form_url"},
    "term_dates": {"event", "date"},
    "event_reminder": {"event", "date"},
    "newsletter": {"title", "url"},
    "survey": {"title", "url", "closes"},
}

#: English SMS stay within 2 segments (emergency closures 3), and within the category's
#: policy where that is stricter (newsletters and surveys: 1).
ENGLISH_SMS_LIMIT: dict[str, int] = {
    "emergency_closure": 3,
    "short_notice_change": 2,
    "payment_request": 2,
    "trip_letter": 2,
    "consent_request": 2,
    "term_dates": 2,
    "event_reminder": 2,
    "newsletter": 1,
    "survey": 1,
}

CATEGORIES = sorted(SAMPLE_VARIABLES)


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary(TEMPLATES_DIR)


def context(category: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "school": SCHOOL,
        "contact": {"first_name": "Sarah"},
        "students": ["Amira", "Jan"],
        **SAMPLE_VARIABLES[category],
    }
    values.update(overrides)
    return values


def without(category: str, *names: str) -> dict[str, Any]:
    values = context(category)
    for name in names:
        del values[name]
    return values


def all_text(message: RenderedMessage) -> str:
    parts = (message.subject, message.title, message.body, message.html)
    return "\n".join(part for part in parts if part)


def contrast_ratio(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# --- what exists --------------------------------------------------------------------------


def test_every_category_has_templates(library: TemplateLibrary) -> None:
    assert library.categories() == set(CATEGORIES)


def test_emergency_closure_is_available_in_english_polish_and_urdu(
    library: TemplateLibrary,
) -> None:
    assert library.languages("emergency_closure") == {"en", "pl", "ur"}


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_has_a_complete_english_set(library: TemplateLibrary, category: str) -> None:
    assert "en" in library.languages(category)


def test_an_unknown_category_has_no_languages(library: TemplateLibrary) -> None:
    assert library.languages("weather_forecast") == frozenset()


def test_every_category_in_the_policy_has_templates(library: TemplateLibrary) -> None:
    policy = tomllib.loads((CONFIG_DIR / "policy.toml").read_text(encoding="utf-8"))
    assert set(policy["categories"]) == set(CATEGORIES)
    for category in policy["categories"]:
        assert "en" in library.languages(category), category


# --- variables ----------------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_required_variables_list_the_category_variables(
    library: TemplateLibrary, category: str
) -> None:
    assert library.required_variables(category, "en") == REQUIRED[category]


@pytest.mark.parametrize("language", ["en", "pl", "ur"])
def test_optional_variables_are_not_required(library: TemplateLibrary, language: str) -> None:
    assert library.required_variables("emergency_closure", language) == {"date", "reason"}
    assert library.optional_variables("emergency_closure", language) == {
        "reopening",
        "details_url",
    }


def test_the_sample_values_cover_every_variable(library: TemplateLibrary) -> None:
    for category in CATEGORIES:
        every = library.required_variables(category, "en") | library.optional_variables(
            category, "en"
        )
        assert every == set(SAMPLE_VARIABLES[category]), category


# --- rendering: English, every channel ---------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_renders_in_english_on_every_channel(
    library: TemplateLibrary, category: str, channel: Channel
) -> None:
    message = library.render(category, channel, "en", MessageFormat.STANDARD, context(category))

    assert message.category == category
    assert message.channel is channel
    assert message.language == "en"
    assert message.direction == "ltr"
    assert message.body.strip()
    assert SCHOOL["name"] in message.body or (message.html and "St Mary" in message.html)
    text = all_text(message)
    for leftover in ("None", "Undefined", "{{", "{%"):
        assert leftover not in text
    if channel is Channel.SMS:
        assert message.sms is not None
        assert message.sms.encoding == "GSM-7"
        assert message.body.endswith(SCHOOL["name"])  # signed off with the school's name
        assert (message.subject, message.html, message.title) == (None, None, None)
    elif channel is Channel.EMAIL:
        assert message.subject and "\n" not in message.subject
        assert message.html is not None
        assert message.body.rstrip().endswith(SCHOOL["website"])
        assert (message.title, message.sms) == (None, None)
    else:
        assert message.title
        assert len(message.body) <= PUSH_BODY_LIMIT
        assert (message.subject, message.html, message.sms) == (None, None, None)


@pytest.mark.parametrize("category", CATEGORIES)
def test_english_sms_fit_the_segment_budget_with_realistic_values(
    library: TemplateLibrary, category: str
) -> None:
    messages = library.preview(
        category, ["en"], list(Channel), context(category), ENGLISH_SMS_LIMIT[category]
    )

    # sms + email standard, large print and easy read + push
    assert [(m.channel, m.format) for m in messages] == [
        (Channel.SMS, MessageFormat.STANDARD),
        (Channel.EMAIL, MessageFormat.STANDARD),
        (Channel.EMAIL, MessageFormat.LARGE_PRINT),
        (Channel.EMAIL, MessageFormat.EASY_READ),
        (Channel.PUSH, MessageFormat.STANDARD),
    ]


@pytest.mark.parametrize("category", CATEGORIES)
def test_optional_variables_may_be_left_out_or_given_as_none(
    library: TemplateLibrary, category: str
) -> None:
    optional = library.optional_variables(category, "en")
    left_out = without(category, *optional, "contact", "students")
    as_none = context(category, **dict.fromkeys(optional, None))

    for values in (left_out, as_none):
        messages = library.preview(category, ["en"], list(Channel), values, 3)
        assert {m.channel for m in messages} == set(Channel)
        for message in messages:
            assert "None" not in all_text(message)


def test_emergency_sms_gives_the_school_phone(library: TemplateLibrary) -> None:
    for language in ("en", "pl", "ur"):
        message = library.render(
            "emergency_closure",
            Channel.SMS,
            language,
            MessageFormat.STANDARD,
            context("emergency_closure"),
        )
        assert "01632" in message.body and "960000" in message.body


def test_students_and_contact_are_named_in_the_email(library: TemplateLibrary) -> None:
    message = library.render(
        "payment_request",
        Channel.EMAIL,
        "en",
        MessageFormat.STANDARD,
        context("payment_request"),
    )

    assert message.body.startswith("Dear Sarah,")
    assert "Amira and Jan" in message.body
    assert "Amira and Jan" in (message.html or "")


# --- Polish and Urdu --------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize(("language", "direction"), [("pl", "ltr"), ("ur", "rtl")])
def test_emergency_closure_renders_in_polish_and_urdu(
    library: TemplateLibrary, channel: Channel, language: str, direction: str
) -> None:
    message = library.render(
        "emergency_closure",
        channel,
        language,
        MessageFormat.STANDARD,
        context("emergency_closure"),
    )

    assert message.language == language
    assert message.direction == direction
    assert "Tuesday 24 November" in all_text(message)
    if channel is Channel.SMS:
        assert message.sms is not None and message.sms.encoding == "UCS-2"
    if channel is Channel.EMAIL:
        assert message.html is not None
        assert f'<html lang="{language}" dir="{direction}">' in message.html


def test_urdu_email_is_right_to_left(library: TemplateLibrary) -> None:
    message = library.render(
        "emergency_closure",
        Channel.EMAIL,
        "ur",
        MessageFormat.STANDARD,
        context("emergency_closure"),
    )

    assert message.direction == "rtl"
    assert message.html is not None
    assert 'dir="rtl"' in message.html
    assert "بند" in message.html  # "closed"


def test_polish_and_urdu_sms_fit_the_emergency_budget(library: TemplateLibrary) -> None:
    messages = library.preview(
        "emergency_closure", ["pl", "ur"], [Channel.SMS], context("emergency_closure"), 3
    )

    assert [m.language for m in messages] == ["pl", "ur"]


# --- preview errors -------------------------------------------------------------------------


def test_a_missing_variable_is_named_at_preview(library: TemplateLibrary) -> None:
    with pytest.raises(MissingVariable) as caught:
        library.preview(
            "emergency_closure", ["en"], list(Channel), without("emergency_closure", "date"), 3
        )

    assert caught.value.variable == "date"
    assert caught.value.template == "emergency_closure/en/sms.txt.j2"
    assert str(caught.value) == (
        "template emergency_closure/en/sms.txt.j2 needs variable 'date' "
        "which the request does not give"
    )


def test_a_blank_variable_counts_as_missing(library: TemplateLibrary) -> None:
    with pytest.raises(MissingVariable) as caught:
        library.render(
            "survey", Channel.PUSH, "en", MessageFormat.STANDARD, context("survey", closes="  ")
        )

    assert caught.value.variable == "closes"


def test_a_missing_school_is_named(library: TemplateLibrary) -> None:
    with pytest.raises(MissingVariable) as caught:
        library.render(
            "newsletter", Channel.SMS, "en", MessageFormat.STANDARD, without("newsletter", "school")
        )

    assert caught.value.variable == "school"
    assert "newsletter/en/sms.txt.j2" in str(caught.value)


def test_an_sms_over_the_segment_limit_is_refused_at_preview(library: TemplateLibrary) -> None:
    long_reason = (
        "a burst water main that has flooded the hall, the kitchen and two classrooms " * 4
    )

    with pytest.raises(SmsTooLong) as caught:
        library.preview(
            "emergency_closure",
            ["en"],
            [Channel.SMS],
            context("emergency_closure", reason=long_reason),
            3,
        )

    assert caught.value.limit == 3
    assert caught.value.segments > 3
    assert caught.value.template == "emergency_closure/en/sms.txt.j2"
    assert isinstance(caught.value, TemplateError)


def test_an_unknown_language_is_a_template_error(library: TemplateLibrary) -> None:
    with pytest.raises(TemplateError, match=re.escape("newsletter/fr/sms.txt.j2")):
        library.render(
            "newsletter", Channel.SMS, "fr", MessageFormat.STANDARD, context("newsletter")
        )


@pytest.mark.parametrize(("category", "language"), [("../config", "en"), ("newsletter", "../en")])
def test_names_cannot_leave_the_templates_folder(
    library: TemplateLibrary, category: str, language: str
) -> None:
    with pytest.raises(TemplateError):
        library.render(category, Channel.SMS, language, MessageFormat.STANDARD, {})


# --- HTML: accessible and escaped ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text_size"), [(MessageFormat.STANDARD, "16px"), (MessageFormat.EASY_READ, "19px")]
)
@pytest.mark.parametrize("category", CATEGORIES)
def test_email_html_is_accessible(
    library: TemplateLibrary, category: str, fmt: MessageFormat, text_size: str
) -> None:
    message = library.render(category, Channel.EMAIL, "en", fmt, context(category))
    html = message.html or ""

    assert '<html lang="en" dir="ltr">' in html
    assert f"<title>{message.subject}" in html.replace("&#39;", "'")
    assert len(re.findall(r"<h1[ >]", html)) == 1
    for forbidden in ("<table", "<img", "<script", "<link", "@import"):
        assert forbidden not in html.lower()
    assert f"font-size:{text_size}" in html
    colours = re.findall(r"(?<!background-)color:(#[0-9a-fA-F]{6})", html)
    assert colours
    for colour in colours:
        assert contrast_ratio(colour, "#ffffff") >= 7, colour


@pytest.mark.parametrize("category", CATEGORIES)
def test_large_print_email_uses_the_larger_font(library: TemplateLibrary, category: str) -> None:
    html = (
        library.render(
            category, Channel.EMAIL, "en", MessageFormat.LARGE_PRINT, context(category)
        ).html
        or ""
    )

    assert "font-size:24px" in html
    assert "line-height:1.6" in html
    assert "font-size:16px" not in html


def test_variables_are_escaped_in_html_only(library: TemplateLibrary) -> None:
    values = context("emergency_closure", reason="<script>alert('snow')</script>")

    email = library.render("emergency_closure", Channel.EMAIL, "en", MessageFormat.STANDARD, values)
    sms = library.render("emergency_closure", Channel.SMS, "en", MessageFormat.STANDARD, values)

    assert email.html is not None
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "<script>alert('snow')</script>" in email.body  # plain text is not HTML
    assert "<script>alert('snow')</script>" in sms.body


# --- push ---------------------------------------------------------------------------------


def test_a_long_push_body_is_cut_with_an_ellipsis(library: TemplateLibrary) -> None:
    values = context("term_dates", details="Please bring a coat and a packed lunch. " * 20)

    message = library.render("term_dates", Channel.PUSH, "en", MessageFormat.STANDARD, values)

    assert len(message.body) <= PUSH_BODY_LIMIT
    assert message.body.endswith("...")
    assert message.body.startswith("Please bring a coat")


# --- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "direction"),
    [
        ("ur", "rtl"),
        ("ar-EG", "rtl"),
        ("fa", "rtl"),
        ("he", "rtl"),
        ("ps", "rtl"),
        ("ku", "rtl"),
        ("ku-Latn", "ltr"),
        ("pa-Arab", "rtl"),
        ("en", "ltr"),
        ("en-GB", "ltr"),
        ("pl", "ltr"),
        ("cy", "ltr"),
    ],
)
def test_text_direction(language: str, direction: str) -> None:
    assert text_direction(language) == direction


@pytest.mark.parametrize(
    ("names", "joined"),
    [
        ([], ""),
        (["Amira"], "Amira"),
        (["Amira", "Jan"], "Amira and Jan"),
        (["Amira", "Jan", "Ola"], "Amira, Jan and Ola"),
    ],
)
def test_join_names(names: list[str], joined: str) -> None:
    assert join_names(names) == joined


# --- easy read ----------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """The sentences of a plain-text email body, links and blank lines left out."""
    found = re.split(r"(?<=[.?!:])\s+|\n+", text)
    return [f for f in found if f.strip() and not f.strip().startswith("http")]


def words_per_sentence(text: str) -> float:
    found = sentences(text)
    return sum(len(f.split()) for f in found) / len(found)


@pytest.mark.parametrize("category", CATEGORIES)
def test_easy_read_emails_use_short_sentences_and_keep_every_fact(
    library: TemplateLibrary, category: str
) -> None:
    values = context(category)
    easy = library.render(category, Channel.EMAIL, "en", MessageFormat.EASY_READ, values)
    standard = library.render(category, Channel.EMAIL, "en", MessageFormat.STANDARD, values)

    assert easy.body != standard.body
    assert easy.body.startswith("Hello Sarah,")
    # the standard wording averages 6-9 words a sentence, its longest 15-17
    assert words_per_sentence(easy.body) <= 7
    assert max(len(f.split()) for f in sentences(easy.body)) <= 13
    for name, value in SAMPLE_VARIABLES[category].items():
        if name.endswith(("url", "link")):
            assert f'href="{value}"' in (easy.html or ""), name
        assert value in easy.body, name  # the date, the amount, the link: nothing is lost
    assert easy.subject == standard.subject  # subjects are short already


def test_easy_read_falls_back_to_the_standard_wording_where_none_is_written(
    library: TemplateLibrary,
) -> None:
    values = context("emergency_closure")
    for language, channel in (("pl", Channel.EMAIL), ("en", Channel.SMS), ("en", Channel.PUSH)):
        easy = library.render(
            "emergency_closure", channel, language, MessageFormat.EASY_READ, values
        )
        standard = library.render(
            "emergency_closure", channel, language, MessageFormat.STANDARD, values
        )
        assert (easy.body, easy.subject, easy.title) == (
            standard.body,
            standard.subject,
            standard.title,
        )
        assert library.has_easy_read("emergency_closure", language, channel) is False


def test_an_easy_read_part_replaces_only_that_part(tmp_path: Path) -> None:
    library = made_up_library(tmp_path, email="Standard words", email_html="<p>Standard</p>")
    (tmp_path / "demo" / "en" / "easy_read").mkdir()
    (tmp_path / "demo" / "en" / "easy_read" / "email.txt.j2").write_text("Easy words")

    school = {"school": {"name": "St Mary's"}}
    easy = library.render("demo", Channel.EMAIL, "en", MessageFormat.EASY_READ, school)

    assert easy.body == "Easy words"
    assert easy.html == "<p>Standard</p>\n"
    assert library.has_easy_read("demo", "en", Channel.EMAIL)
    assert not library.has_easy_read("demo", "en", Channel.SMS)


def test_a_variable_only_the_easy_read_wording_needs_fails_at_preview(tmp_path: Path) -> None:
    library = made_up_library(tmp_path)
    (tmp_path / "demo" / "en" / "easy_read").mkdir()
    (tmp_path / "demo" / "en" / "easy_read" / "email.txt.j2").write_text("Bring {{ kit }}.")

    assert library.required_variables("demo", "en") == {"kit"}
    with pytest.raises(MissingVariable) as caught:
        library.preview("demo", ["en"], [Channel.EMAIL], {"school": {"name": "St Mary's"}}, 1)
    assert caught.value.variable == "kit"
    assert caught.value.template == "demo/en/easy_read/email.txt.j2"


# --- variable analysis on small made-up templates ------------------------------------------


def made_up_library(tmp_path: Path, **parts: str) -> TemplateLibrary:
    """A library with one category, ``demo/en``, whose parts are ``parts`` (others empty)."""
    folder = tmp_path / "demo" / "en"
    folder.mkdir(parents=True)
    for part in ("sms", "email_subject", "email", "push_title", "push_body"):
        (folder / f"{part}.txt.j2").write_text("{{ school.name }}", encoding="utf-8")
    (folder / "email.html.j2").write_text("<p>{{ school.name }}</p>", encoding="utf-8")
    for part, text in parts.items():
        suffix = ".html.j2" if part == "email_html" else ".txt.j2"
        (folder / f"{part.removesuffix('_html')}{suffix}").write_text(text, encoding="utf-8")
    return TemplateLibrary(tmp_path)


def test_guarded_reads_are_optional_and_unguarded_reads_required(tmp_path: Path) -> None:
    library = made_up_library(
        tmp_path,
        sms=(
            "{{ a }}{% if b is defined %}{{ b }}{% endif %}"
            "{% if c is not defined %}none{% else %}{{ c }}{% endif %}"
            "{{ d | default('-') }}{{ e if e is defined else '' }}"
            "{% if f is defined and f %}{{ f }}{% elif g is defined %}{{ g }}{% endif %}"
            "{% for h in items %}{{ h }}{% endfor %}{{ lang }}{{ school.name }}"
        ),
        push_body="{% if b is defined %}{{ b }}{% endif %}{{ b2 }}",
    )

    assert library.required_variables("demo", "en") == {"a", "items", "b2"}
    assert library.optional_variables("demo", "en") == {"b", "c", "d", "e", "f", "g"}


def test_a_name_required_in_one_part_is_required(tmp_path: Path) -> None:
    library = made_up_library(
        tmp_path, sms="{% if x is defined %}{{ x }}{% endif %}", push_title="{{ x }}"
    )

    assert library.required_variables("demo", "en") == {"x"}
    assert library.optional_variables("demo", "en") == frozenset()


def test_includes_are_followed(tmp_path: Path) -> None:
    (tmp_path / "_partials").mkdir()
    (tmp_path / "_partials" / "footer.txt.j2").write_text("{{ footer_note }}", encoding="utf-8")
    library = made_up_library(tmp_path, email='{% include "_partials/footer.txt.j2" %}')

    assert library.required_variables("demo", "en") == {"footer_note"}
    with pytest.raises(MissingVariable) as caught:
        library.render("demo", Channel.EMAIL, "en", MessageFormat.STANDARD, {"school": SCHOOL})
    assert caught.value.variable == "footer_note"
    assert caught.value.template == "demo/en/email.txt.j2"


def test_a_broken_template_is_a_template_error_naming_the_file(tmp_path: Path) -> None:
    library = made_up_library(tmp_path, push_title="{% if %}")

    with pytest.raises(TemplateError, match=re.escape("demo/en/push_title.txt.j2")):
        library.render("demo", Channel.PUSH, "en", MessageFormat.STANDARD, {"school": SCHOOL})


def test_a_language_missing_a_part_is_not_offered(tmp_path: Path) -> None:
    library = made_up_library(tmp_path)
    (tmp_path / "demo" / "cy").mkdir()
    (tmp_path / "demo" / "cy" / "sms.txt.j2").write_text("Ysgol ar gau", encoding="utf-8")

    assert library.languages("demo") == {"en"}


def test_compile_all_readies_every_template_and_leaves_a_broken_one_to_preview(
    tmp_path: Path,
) -> None:
    library = made_up_library(tmp_path, sms="{{ a }", push_title="{{ x }}")  # sms: unclosed
    shipped = TemplateLibrary(TEMPLATES_DIR)

    assert library.compile_all() == 5  # six parts, one broken
    assert shipped.compile_all() == len(list(TEMPLATES_DIR.rglob("*.j2")))
    with pytest.raises(TemplateError, match=re.escape("demo/en/sms.txt.j2")):
        library.render("demo", Channel.SMS, "en", MessageFormat.STANDARD, {"school": {}})


FAMILY = ("contact", "students")


def test_which_messages_read_a_family_s_names(tmp_path: Path) -> None:
    shipped = TemplateLibrary(TEMPLATES_DIR)
    # The shipped emergency email greets the parent (through its include); the text does not.
    assert shipped.reads_any("emergency_closure", Channel.EMAIL, "en", FAMILY)
    assert not shipped.reads_any("emergency_closure", Channel.SMS, "en", FAMILY)
    (tmp_path / "_partials").mkdir()
    (tmp_path / "_partials" / "hi.txt.j2").write_text("Hi {{ contact.first_name }}")
    library = made_up_library(
        tmp_path,
        sms='{% include "_partials/hi.txt.j2" %}',  # read through an include
        push_body="{% include which %}",  # chosen at run time: cannot be known
        email="{% for s in students %}{{ s }}{% endfor %}",
    )
    assert library.reads_any("demo", Channel.SMS, "en", FAMILY)
    assert library.reads_any("demo", Channel.PUSH, "en", FAMILY)
    assert library.reads_any("demo", Channel.EMAIL, "en", ["students"])
    assert not library.reads_any("demo", Channel.EMAIL, "en", ["contact"])
