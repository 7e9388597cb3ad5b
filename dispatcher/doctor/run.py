"""``run_doctor``: gather the facts of a deployment (settings, configuration, provider
variables, templates, calendars, database, Redis, heartbeats) and run every check on them.

A fact that cannot be read is itself a finding (a configuration file with a mistake, a bad
provider variable, a database that does not answer), never an exception: the doctor always
reports."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date

from dispatcher.channels.settings import (
    ProviderSettings,
    ProviderSettingsError,
    load_provider_settings,
)
from dispatcher.config.calendars import SchoolCalendar, load_calendars
from dispatcher.config.configuration import Configuration, load_configuration
from dispatcher.config.files import ConfigError
from dispatcher.doctor.findings import DoctorReport, Finding, ok, problem
from dispatcher.doctor.school_checks import SchoolFacts, check_school
from dispatcher.doctor.service_checks import (
    check_database,
    check_processes,
    check_redis,
    redis_client,
)
from dispatcher.queue.embedded_redis import running_embedded_redis
from dispatcher.queue.heartbeats import Heartbeats
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.settings import Settings
from dispatcher.store.engine import make_engine
from dispatcher.triggers.mis.signing import secret_variable


class UnknownSchool(ValueError):
    """A school asked for is not configured."""


def _providers(findings: list[Finding]) -> ProviderSettings:
    try:
        settings = load_provider_settings()
    except ProviderSettingsError as exc:
        findings.append(problem("provider settings", f"{exc}"))
        return ProviderSettings.model_construct()
    findings.append(ok("provider settings", "every provider variable that is set is valid"))
    return settings


def _configuration(settings: Settings, findings: list[Finding]) -> Configuration | None:
    try:
        configuration = load_configuration(settings.config_dir)
    except ConfigError as exc:
        findings.append(problem("configuration", str(exc)))
        return None
    findings.append(
        ok(
            "configuration",
            f"{len(configuration.policy.categories)} categories, "
            f"{len(configuration.schools)} schools in {settings.config_dir}",
        )
    )
    return configuration


def _calendars(
    settings: Settings, configuration: Configuration, findings: list[Finding]
) -> dict[str, SchoolCalendar]:
    try:
        return load_calendars(settings.config_dir, configuration)
    except ConfigError as exc:
        findings.append(problem("calendar", str(exc)))
        return {}


def run_doctor(
    settings: Settings,
    today: date,
    schools: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> DoctorReport:
    """Check the deployment that ``settings`` describe on ``today``: the services first, then
    each school (only ``schools``, when given; ``UnknownSchool`` for one not configured).
    ``environ`` (default: the process's) is where the MIS secrets are looked up."""
    environ = os.environ if environ is None else environ
    findings: list[Finding] = []
    configuration = _configuration(settings, findings)
    if configuration is not None:
        unknown = [s for s in schools if s not in configuration.schools]
        if unknown:
            known = ", ".join(sorted(configuration.schools))
            raise UnknownSchool(f"unknown school {unknown[0]!r} (known: {known})")
    providers = _providers(findings)

    engine = make_engine(settings.effective_database_url)
    try:
        findings += check_database(engine, settings)
    finally:
        engine.dispose()
    redis_url = settings.redis_url or running_embedded_redis(settings.data_dir)
    findings += check_redis(redis_url, settings)
    calendars = _calendars(settings, configuration, findings) if configuration else {}
    if redis_url is not None:
        url = redis_url
        heartbeats = Heartbeats(lambda: redis_client(url), settings.heartbeat_timeout_seconds)
        findings += check_processes(heartbeats, has_calendars=bool(calendars))
    if configuration is None:
        return DoctorReport.of(findings)

    templates = TemplateLibrary(settings.templates_dir)
    categories = tuple(configuration.policy.categories)
    languages = {category: templates.languages(category) for category in categories}
    for slug, school in sorted(configuration.schools.items()):
        if schools and slug not in schools:
            continue
        variable = secret_variable(slug)
        findings += check_school(
            SchoolFacts(
                school=school,
                categories=categories,
                template_languages=languages,
                calendar=calendars.get(slug),
                providers=providers,
                mis_secret_variable=variable,
                mis_secret_set=bool(environ.get(variable)),
                today=today,
            )
        )
    return DoctorReport.of(findings)
