"""Checking a draft up to a step: each step's answers and every earlier one, the first
that is wrong answered with its step's page (and its error) or a refusal; what is right
comes back as ``Checked``, and at the end as the ``AnnouncementRequest`` to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.responses import Response

from dispatcher.access.roles import send_refusal
from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig
from dispatcher.rendering.templates import TemplateError, TemplateLibrary
from dispatcher.triggers.announcements import AnnouncementRequest
from dispatcher.web.console.compose_pages import (
    Step,
    audience_page,
    category_page,
    details_page,
    not_found_page,
    refused_page,
    school_page,
)
from dispatcher.web.console.compose_state import (
    AUDIENCE_FIELD,
    CheckedDetails,
    audience_problem,
    check_templates,
    checked_details,
)
from dispatcher.web.console.compose_words import VariableField, variable_fields
from dispatcher.web.console.home import schools_of
from dispatcher.web.console.sending import CONSOLE_TRIGGER, refusal_of


@dataclass(frozen=True)
class Checked:
    """A draft checked up to some step."""

    school: SchoolConfig
    category: CategoryPolicy | None = None
    fields: list[VariableField] | None = None
    details: CheckedDetails | None = None


def check_school(step: Step) -> Checked | Response:
    """The draft's school if the account acts for it; else the school step (400), a 404
    or a 403 page."""
    runtime = step.console.runtime
    slug = step.draft.school
    if not slug:
        return school_page(step, [("school", "Choose the school")], 400)
    school = runtime.configuration.schools.get(slug)
    if school is None:
        return not_found_page(step)
    if slug not in schools_of(runtime, step.account):
        return refused_page(step, "school")
    return Checked(school)


def check_category(step: Step) -> Checked | Response:
    """``check_school``, then the category if it exists and the account may send it."""
    checked = check_school(step)
    if isinstance(checked, Response):
        return checked
    runtime = step.console.runtime
    name = step.draft.category
    if not name:
        return category_page(step, checked.school, [("category", "Choose what it is about")], 400)
    category = runtime.configuration.policy.categories.get(name)
    if category is None or name not in runtime.templates.categories():
        return not_found_page(step)
    school = checked.school
    if send_refusal(step.account, school.slug, name, category.urgency, False, school.trust):
        return refused_page(step, "category", category)
    return Checked(school, category)


def _fields(
    templates: TemplateLibrary, school: SchoolConfig, category: CategoryPolicy
) -> list[VariableField]:
    languages = sorted(templates.languages(category.name) & set(school.languages))
    return variable_fields(templates, category.name, languages or [school.default_language])


def check_audience(step: Step) -> Checked | Response:
    """``check_category``, then the audience if it is understood and the account may
    send to it, with the details' fields."""
    checked = check_category(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None
    school, category = checked.school, checked.category
    problem = audience_problem(step.draft)
    if problem is not None:
        return audience_page(step, school, category, [(AUDIENCE_FIELD, problem)], 400)
    request = AnnouncementRequest(
        school=school.slug, category=category.name, audience=list(step.draft.audience)
    )
    refused = refusal_of(step.console.runtime, step.account, request)
    if refused is not None:
        return refused_page(step, refused, category)
    try:
        fields = _fields(step.console.runtime.templates, school, category)
    except TemplateError:  # a template file missing: the category cannot be sent from here
        return not_found_page(step)
    return Checked(school, category, fields)


def check_details(step: Step, now: datetime) -> Checked | Response:
    """``check_audience``, then the details turned into variables and a send time at
    ``now``, the templates rendered with them; else the details step naming each field
    at fault."""
    checked = check_audience(step)
    if isinstance(checked, Response):
        return checked
    assert checked.category is not None and checked.fields is not None
    school, category, fields = checked.school, checked.category, checked.fields
    details, errors = checked_details(step.draft, fields, school.tz, now)
    if details is None:
        return details_page(step, school, category, fields, errors, 400)
    errors = check_templates(
        step.console.runtime.templates, school, category, details.variables, fields
    )
    if errors:
        return details_page(step, school, category, fields, errors, 400)
    return Checked(school, category, fields, details)


def request_of(step: Step, checked: Checked, idempotency_key: str | None) -> AnnouncementRequest:
    """The ``AnnouncementRequest`` of a fully checked draft, sent by ``step``'s account."""
    assert checked.category is not None and checked.details is not None
    return AnnouncementRequest(
        school=checked.school.slug,
        category=checked.category.name,
        audience=list(step.draft.audience),
        variables=checked.details.variables,
        requested_by=step.account.name,
        trigger=CONSOLE_TRIGGER,
        idempotency_key=idempotency_key,
        send_at=checked.details.send_at,
    )
