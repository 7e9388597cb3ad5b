"""Links in messages: a request's link variables must be https, and no rendered email
carries an href a mail client would run or send in clear (defence in depth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.domain import Channel, MessageFormat
from dispatcher.rendering.links import is_link_variable, link_problem, unsafe_href
from dispatcher.rendering.templates import TemplateLibrary, UnsafeLink
from tests.support.paths import TEMPLATES_DIR
from tests.unit.rendering.test_templates import SAMPLE_VARIABLES, context

BAD_LINKS = (
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "http://pay.example/x",
    "https:///no-host",
    "//pay.example/x",
    "pay.example/x",
    "https://pay.example/x y",
    "https://pay.example/" + "x" * 500,
)


@pytest.mark.parametrize("name", ["url", "letter_url", "details_url", "form_url", "payment_link"])
def test_every_link_variable_of_the_templates_is_a_link(name: str) -> None:
    assert is_link_variable(name)


def test_the_templates_link_variables_are_the_ones_named_as_links() -> None:
    links = {n for values in SAMPLE_VARIABLES.values() for n in values if is_link_variable(n)}
    assert links == {"url", "letter_url", "details_url", "form_url", "payment_link"}
    assert not any(is_link_variable(name) for name in ("date", "reason", "details", "title"))


@pytest.mark.parametrize("value", BAD_LINKS)
def test_a_link_that_is_not_https_is_refused_without_repeating_it(value: str) -> None:
    problem = link_problem(value)
    assert problem is not None and "https://" in problem
    assert value.strip() not in problem


def test_an_https_link_is_accepted() -> None:
    assert link_problem("https://pay.example/r/S1?ref=a%20b#top") is None


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary(TEMPLATES_DIR)


@pytest.mark.parametrize("value", ["javascript:alert(1)", "http://pay.example/x"])
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS, Channel.PUSH])
def test_rendering_refuses_a_link_variable_that_is_not_https(
    library: TemplateLibrary, value: str, channel: Channel
) -> None:
    with pytest.raises(UnsafeLink) as raised:
        library.render(
            "payment_request",
            channel,
            "en",
            MessageFormat.STANDARD,
            context("payment_request", payment_link=value),
        )
    assert raised.value.variable == "payment_link"
    assert "payment_link" in str(raised.value) and value not in str(raised.value)


def test_rendering_refuses_any_href_that_is_not_https_mailto_tel_or_the_website(
    tmp_path: Path,
) -> None:
    # a template whose link comes from a variable not named as a link
    (tmp_path / "newsletter" / "en").mkdir(parents=True)
    for path in TEMPLATES_DIR.glob("newsletter/en/*.j2"):
        (tmp_path / "newsletter" / "en" / path.name).write_text(path.read_text())
    for shared in ("_layouts", "_partials"):
        for path in (TEMPLATES_DIR / shared).rglob("*"):
            target = tmp_path / path.relative_to(TEMPLATES_DIR)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(path.read_text())
    html = tmp_path / "newsletter" / "en" / "email.html.j2"
    html.write_text(html.read_text().replace("{{ url }}", "{{ title }}"))
    library = TemplateLibrary(tmp_path)
    values = context("newsletter", title="javascript:alert(1)")

    with pytest.raises(UnsafeLink):
        library.render("newsletter", Channel.EMAIL, "en", MessageFormat.STANDARD, values)

    fine = context("newsletter", title="https://news.example/spring")
    library.render("newsletter", Channel.EMAIL, "en", MessageFormat.STANDARD, fine)


@pytest.mark.parametrize(
    ("html", "scheme"),
    [
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<a href="java&#x09;script:alert(1)">x</a>', "javascript"),
        ("<a href=' JAVASCRIPT:alert(1)'>x</a>", "javascript"),
        ('<img src="data:image/png;base64,AAAA">', "data"),
        ('<a href="http://x.example">x</a>', "http"),
        ('<a href="x.example/path">x</a>', "relative"),
        ('<a href="https://x.example">x</a><a href="tel:01632960000">t</a>', None),
        ('<a href="mailto:office@x.example">m</a>', None),
    ],
)
def test_unsafe_href_names_the_scheme(html: str, scheme: str | None) -> None:
    assert unsafe_href(html) == scheme


def test_the_schools_configured_website_may_be_http() -> None:
    page = '<a href="http://www.westbourneschool.org">site</a>'
    assert unsafe_href(page, ["http://www.westbourneschool.org"]) is None
    assert unsafe_href(page, ["https://other.example"]) == "http"
