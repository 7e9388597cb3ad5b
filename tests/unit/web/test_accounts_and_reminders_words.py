"""What the accounts pages and home's next reminders say, from facts alone (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatcher.access.roles import Role
from dispatcher.access.staff import StaffInfo
from dispatcher.config.configuration import Configuration, load_configuration
from dispatcher.triggers.reminders.rules import Reminder
from dispatcher.web.console.accounts_view import account_row, scope_choices, status_words
from dispatcher.web.console.next_reminders import reminder_line, upcoming
from tests.support.paths import CONFIG_DIR

NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def configuration() -> Configuration:
    return load_configuration(CONFIG_DIR)


def account(**changes: object) -> StaffInfo:
    values: dict[str, object] = {
        "id": 3, "email": "jo@demo.example.org", "role": Role.ADMIN, "school": "demo",
        "trust": None, "second_factor_enrolled": True, "created_at": NOW,
        "last_sign_in_at": None, "locked_until": None,
    }  # fmt: skip
    values.update(changes)
    return StaffInfo(**values)  # type: ignore[arg-type]


def test_an_admin_is_offered_only_the_scopes_inside_their_own(
    configuration: Configuration,
) -> None:
    school_admin = [c.value for c in scope_choices(account(), configuration)]
    assert school_admin == ["school:demo"]
    trust_admin = scope_choices(account(school=None, trust="sendat"), configuration)
    members = sorted(s for s, cfg in configuration.schools.items() if cfg.trust == "sendat")
    assert sorted(c.school for c in trust_admin if c.school) == members
    assert [c.value for c in trust_admin if c.school is None] == ["trust:sendat"]
    everyone = [c.value for c in scope_choices(account(school=None), configuration)]
    assert everyone[-1] == "all" and "school:brockmoor" in everyone and "trust:sendat" in everyone


def test_an_accounts_status_says_disabled_before_locked_before_active() -> None:
    later = NOW + timedelta(minutes=10)
    assert status_words(account(), NOW) == ("Active", "green")
    assert status_words(account(locked_until=later), NOW) == ("Locked until 06:55 UTC", "orange")
    assert status_words(account(locked_until=NOW - timedelta(seconds=1)), NOW)[0] == "Active"
    assert status_words(account(locked_until=later, disabled_at=NOW), NOW)[0] == "Disabled"


def test_an_account_row_reads_as_people_say_it(configuration: Configuration) -> None:
    row = account_row(account(phone="+447700900123", role=Role.OFFICE,
                              second_factor_enrolled=False), configuration, NOW)  # fmt: skip
    assert row["phone"] == "07700 900123"
    assert row["scope"] == configuration.schools["demo"].name
    assert row["second_factor"] == "Not needed for the office role"
    assert row["last_sign_in"] == "Never"
    senior = account_row(
        account(role=Role.SENIOR, second_factor_enrolled=False), configuration, NOW
    )
    assert senior["second_factor"] == "Sets up an authenticator app at the next sign-in"


def reminder(key: str, school: str, due_at: datetime, **variables: str) -> Reminder:
    return Reminder(
        key=key, school=school, rule="event-day-before", category="event_reminder",
        audience=("school",), variables=variables, subject_date=date(2026, 12, 10),
        fire_date=due_at.date(), due_at=due_at, title="A title", tz=LONDON,
    )  # fmt: skip


def test_the_next_reminders_are_the_soonest_of_the_persons_schools_only() -> None:
    soon = reminder("b", "demo", NOW + timedelta(hours=1))
    tie = reminder("a", "demo", NOW + timedelta(hours=1))
    past = reminder("c", "demo", NOW - timedelta(minutes=1))
    other = reminder("d", "brockmoor", NOW + timedelta(minutes=5))
    later = [reminder(f"l{i}", "demo", NOW + timedelta(days=i + 1)) for i in range(6)]
    schedules = {"demo": [past, soon, tie, *later], "brockmoor": [other]}
    assert upcoming(schedules, ["demo"], NOW, 3) == [tie, soon, later[0]]
    assert upcoming(schedules, ["demo", "brockmoor"], NOW, 1) == [other]
    assert upcoming(schedules, ["westbourne"], NOW, 5) == []


def test_a_reminder_line_says_what_and_when_in_the_schools_time() -> None:
    summer = datetime(2027, 6, 30, 13, 30, tzinfo=UTC)  # 2:30pm in London (BST)
    line = reminder_line(
        reminder("k", "demo", summer, event="Sports day", date="Thursday 1 July"), "Demo"
    )
    assert (line.what, line.when, line.school) == (
        "Sports day: Thursday 1 July", "Wednesday 30 June at 2:30pm", "Demo",
    )  # fmt: skip
    plain = reminder_line(reminder("k", "demo", NOW.replace(hour=9, minute=0)), "Demo")
    assert (plain.what, plain.when) == ("A title", "Monday 7 December at 9am")
