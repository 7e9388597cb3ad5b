"""The compose flow's pages, one a step, each shown with the draft so far and its errors;
and the pages that end a flow (a refusal in plain words, an unknown school or category)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from dispatcher.access.roles import send_refusal
from dispatcher.access.staff import StaffInfo
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.store.audience_choices import audience_choices, search_students, students_by_id
from dispatcher.web.console.compose_state import Draft, Errors
from dispatcher.web.console.compose_words import (
    VariableField,
    category_name,
    channels_in_words,
    send_window_words,
    year_words,
)
from dispatcher.web.console.context import Console
from dispatcher.web.console.home import schools_of
from dispatcher.web.console.pages import render
from dispatcher.web.console.sessions import ConsoleSession

#: Why an account may not send, by the part of the request refused.
REFUSALS = {
    "school": "Your account does not send for this school.",
    "category": (
        "Your account cannot send {category}: it is urgent, and urgent messages need a "
        "senior or admin account. Ask your head teacher or a deputy to send it."
    ),
    "audience": (
        "Your account cannot send to the whole school: that needs a senior or admin "
        "account. Choose years, classes, groups or students instead, or ask a senior."
    ),
}


@dataclass(frozen=True)
class Step:
    """Who is composing, and their draft."""

    console: Console
    session: ConsoleSession
    account: StaffInfo
    draft: Draft

    def page(
        self, template: str, title: str, status_code: int = 200, **context: object
    ) -> Response:
        """``template`` for this person, with the draft in ``draft``."""
        return render(
            template,
            status_code=status_code,
            title=title,
            account=self.account,
            csrf_token=self.session.csrf_token,
            draft=self.draft,
            **context,
        )


def refused_page(step: Step, field: str, category: CategoryPolicy | None = None) -> Response:
    """The 403 page saying in plain words what ``field`` (school, category, audience)
    the account may not send."""
    words = category_name(category).lower() if category else "this category"
    return step.page(
        "message.html",
        "You cannot send this",
        status_code=403,
        paragraphs=[REFUSALS[field].format(category=words), "Nothing was sent."],
        link=("/compose", "Start again"),
    )


def not_found_page(step: Step) -> Response:
    """The 404 page of an unknown school or category."""
    return step.page(
        "message.html",
        "Page not found",
        status_code=404,
        paragraphs=["There is no such school or category. Start the announcement again."],
        link=("/compose", "Start again"),
    )


# --- the steps' pages ----------------------------------------------------------------


def school_page(step: Step, errors: Errors, status_code: int = 200) -> Response:
    """The school step: the schools the account acts for."""
    runtime = step.console.runtime
    schools = [
        (slug, runtime.configuration.schools[slug].name)
        for slug in schools_of(runtime, step.account)
    ]
    return step.page(
        "compose_school.html",
        "Which school is it for?",
        status_code,
        errors=errors,
        schools=schools,
    )


def _categories(step: Step, school: SchoolConfig) -> tuple[list[dict[str, str]], list[str]]:
    runtime = step.console.runtime
    offered: list[dict[str, str]] = []
    withheld: list[str] = []
    with_templates = runtime.templates.categories()
    for name, category in runtime.configuration.policy.categories.items():
        if name not in with_templates:
            continue
        refusal = send_refusal(
            step.account, school.slug, name, category.urgency, False, school.trust
        )
        if refusal is not None:
            withheld.append(category_name(category))
            continue
        offered.append(
            {
                "value": name,
                "name": category_name(category),
                "description": category.description,
                "channels": channels_in_words(school, category),
                "window": send_window_words(school, category),
            }
        )
    return offered, withheld


def category_page(
    step: Step, school: SchoolConfig, errors: Errors, status_code: int = 200
) -> Response:
    """The category step: the categories the account may send at ``school``, described,
    and a sentence naming the others."""
    offered, withheld = _categories(step, school)
    return step.page(
        "compose_category.html",
        "What is it about?",
        status_code,
        errors=errors,
        school=school,
        categories=offered,
        withheld=withheld,
        several_schools=len(schools_of(step.console.runtime, step.account)) > 1,
    )


def audience_page(
    step: Step,
    school: SchoolConfig,
    category: CategoryPolicy,
    errors: Errors,
    status_code: int = 200,
    search: str = "",
) -> Response:
    """The audience step: whole school (if the account may), years, classes, groups, the
    students already chosen and those matching ``search``."""
    runtime = step.console.runtime
    chosen_students = [p.partition(":")[2] for p in step.draft.audience if p.startswith("student:")]
    with runtime.sessions() as db:
        choices = audience_choices(db, school.slug)
        matches = search_students(db, school.slug, search) if search.strip() else []
        chosen = students_by_id(db, school.slug, chosen_students)
    chosen_ids = {s.external_id for s in chosen}
    whole_school = (
        send_refusal(step.account, school.slug, category.name, category.urgency, True, school.trust)
        is None
    )
    return step.page(
        "compose_audience.html",
        "Who is it for?",
        status_code,
        errors=errors,
        school=school,
        category=category_name(category),
        choices=choices,
        year_words=year_words,
        whole_school=whole_school,
        search=search,
        searched=bool(search.strip()),
        matches=[m for m in matches if m.external_id not in chosen_ids],
        chosen=chosen,
        chosen_parts=set(step.draft.audience),
    )


def details_page(
    step: Step,
    school: SchoolConfig,
    category: CategoryPolicy,
    fields: list[VariableField],
    errors: Errors,
    status_code: int = 200,
) -> Response:
    """The details step: an input per template variable, and when it goes."""
    return step.page(
        "compose_details.html",
        f"{category_name(category)}: the details",
        status_code,
        errors=errors,
        school=school,
        category=category_name(category),
        fields=fields,
        timezone=school.timezone,
    )
