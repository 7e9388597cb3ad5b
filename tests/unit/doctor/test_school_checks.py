"""The doctor's checks of one school (``doctor.school_checks``): a complete set-up has no
problem; each way a school would trip over its set-up is a problem that names what to fix.
Pure: facts in, findings out."""

from __future__ import annotations

import base64
import dataclasses
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dispatcher.channels.settings import ProviderSettings, load_provider_settings
from dispatcher.config.calendars import SchoolCalendar, Term
from dispatcher.config.configuration import load_configuration
from dispatcher.config.schools import ProviderNames
from dispatcher.doctor.findings import DoctorReport, Finding, Level
from dispatcher.doctor.school_checks import (
    SchoolFacts,
    calendar_span,
    check_school,
    placeholder_addresses,
    sender_id_problem,
    year_ahead,
)
from tests.support.paths import CONFIG_DIR

CONFIG = load_configuration(CONFIG_DIR)
CATEGORIES = tuple(CONFIG.policy.categories)
EVERY_LANGUAGE = {c: frozenset({"en", "pl", "ur"}) for c in CATEGORIES}
LIVE = load_provider_settings(
    twilio_account_sid="AC" + "1" * 32,
    twilio_auth_token="token-123456",
    sendgrid_api_key="SG.key-123456",
    public_base_url="https://dispatch.westbourneschool.org",
    sendgrid_webhook_public_key=base64.b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode(),
).model_copy(update={"fcm_service_account_file": Path("/etc/dispatcher/fcm.json")})  # not read
YEAR_2026_27 = SchoolCalendar(
    school="westbourne",
    terms=(
        Term("Autumn", date(2026, 9, 2), date(2026, 12, 18)),
        Term("Spring", date(2027, 1, 5), date(2027, 3, 26)),
        Term("Summer", date(2027, 4, 12), date(2027, 7, 21)),
    ),
)
SEPTEMBER = date(2026, 9, 1)


def facts(**changes: object) -> SchoolFacts:
    """Westbourne, fully set up (credentials, webhooks, calendar, every translation)."""
    base = SchoolFacts(
        school=CONFIG.school("westbourne"),
        categories=CATEGORIES,
        template_languages=EVERY_LANGUAGE,
        calendar=YEAR_2026_27,
        providers=LIVE,
        mis_secret_variable="DISPATCHER_MIS_SECRET_WESTBOURNE",
        mis_secret_set=True,
        today=SEPTEMBER,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def school(**changes: object) -> object:
    return CONFIG.school("westbourne").model_copy(update=changes)


def problems(findings: list[Finding]) -> list[str]:
    return [f"{f.check}: {f.message}" for f in findings if f.level is Level.PROBLEM]


def test_a_complete_set_up_has_no_problem_and_no_note() -> None:
    findings = check_school(facts())
    assert problems(findings) == []
    assert DoctorReport.of(findings).passed(strict=True)
    assert {f.check for f in findings} == {
        "providers",
        "webhooks",
        "sender id",
        "addresses",
        "templates",
        "calendar",
    }


def test_missing_credentials_are_a_problem_naming_the_variables() -> None:
    found = problems(check_school(facts(providers=ProviderSettings())))
    assert any("sms: held" in p and "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in p for p in found)
    assert any("email: held" in p and "SENDGRID_API_KEY" in p for p in found)
    assert any("push: held" in p and "FCM_SERVICE_ACCOUNT_FILE" in p for p in found)


def test_a_school_on_the_outbox_is_a_note_not_a_problem_and_fails_only_strict() -> None:
    trial = facts(school=school(providers=ProviderNames.outbox_only()))
    findings = check_school(trial)
    assert problems(findings) == []
    notes = [f.message for f in findings if f.level is Level.NOTE]
    assert any("written to the outbox — not sent to any family" in n for n in notes)
    assert DoctorReport.of(findings).passed()
    assert not DoctorReport.of(findings).passed(strict=True)


def test_webhook_secrets_and_the_public_base_url_are_named() -> None:
    bare = LIVE.model_copy(update={"public_base_url": None, "sendgrid_webhook_public_key": None})
    found = problems(check_school(facts(providers=bare, mis_secret_set=False)))
    assert any("DISPATCHER_PUBLIC_BASE_URL is not set" in p for p in found)
    assert any("SENDGRID_WEBHOOK_PUBLIC_KEY is not set" in p for p in found)
    with_mis = facts(school=school(mis="arbor"), mis_secret_set=False)
    assert any("DISPATCHER_MIS_SECRET_WESTBOURNE" in p for p in problems(check_school(with_mis)))
    plain = LIVE.model_copy(update={"public_base_url": "http://dispatch.westbourneschool.org"})
    assert any("https" in p for p in problems(check_school(facts(providers=plain))))
    example = LIVE.model_copy(update={"public_base_url": "https://dispatch.example.org"})
    assert any("reserved example" in p for p in problems(check_school(facts(providers=example))))


def test_a_sender_id_must_be_alphanumeric_at_most_eleven_and_not_only_digits() -> None:
    assert sender_id_problem("Westbourne") is None
    assert sender_id_problem("St Marys 2") is None
    assert sender_id_problem("WestbourneSch") is not None  # 13 characters
    assert sender_id_problem("West-bourne") is not None
    assert sender_id_problem("01234567") is not None
    found = problems(check_school(facts(school=school(sender_id="0123456"))))
    assert any("sender_id '0123456'" in p and "letter" in p for p in found)


def test_placeholder_addresses_are_a_problem_once_families_hear_from_the_school() -> None:
    trent = CONFIG.school("trent-acres")
    assert placeholder_addresses(trent) == ["from_email = office@trent-acres.invalid"]
    sendat = CONFIG.school("sendat-a")  # a member school of SENDAT, its details unknown
    assert placeholder_addresses(sendat) == [
        "from_email = office@sendat-a.example.org",
        "reply_to = office@sendat-a.example.org",
        "website = https://sendat-a.example.org",
    ]
    demo = CONFIG.school("demo")
    assert len(placeholder_addresses(demo)) == 3  # from, reply-to and website on .example
    found = problems(check_school(facts(school=school(reply_to="office@example.com"))))
    assert any("reply_to = office@example.com" in p for p in found)
    # On the outbox nothing reaches a family: a note to fix before going live.
    trial = facts(
        school=school(reply_to="office@example.com", providers=ProviderNames.outbox_only())
    )
    assert problems(check_school(trial)) == []


def test_templates_missing_in_the_default_language_are_a_problem_translations_a_note() -> None:
    no_newsletter = {**EVERY_LANGUAGE, "newsletter": frozenset()}
    found = check_school(facts(template_languages=no_newsletter))
    assert any("no complete 'en' templates for newsletter" in p for p in problems(found))
    english_only = {c: frozenset({"en"}) for c in CATEGORIES}
    findings = check_school(facts(template_languages=english_only))
    assert problems(findings) == []
    notes = [f.message for f in findings if f.check == "templates" and f.level is Level.NOTE]
    assert len(notes) == 2 and "'pl'" in notes[0] and "'ur'" in notes[1]


def test_a_calendar_must_cover_the_next_twelve_months() -> None:
    assert calendar_span(YEAR_2026_27) == (date(2026, 9, 1), date(2027, 8, 31))
    assert year_ahead(SEPTEMBER) == date(2027, 8, 31)
    assert year_ahead(date(2028, 2, 29)) == date(2029, 2, 28)
    assert problems(check_school(facts(today=SEPTEMBER))) == []
    december = problems(check_school(facts(today=date(2026, 12, 4))))
    assert any("months run from 2026-12-04 to 2027-12-03" in p for p in december)
    before = problems(check_school(facts(today=date(2026, 8, 20))))
    assert any("calendar covers 2026-09-01" in p for p in before)
    none = problems(check_school(facts(calendar=None)))
    assert any("no calendar (config/calendars/westbourne.toml)" in p for p in none)
