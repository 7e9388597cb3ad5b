"""What the accounts pages show, in words, computed from accounts and the configuration
alone (no request, no database): each account's status and second factor, and the scopes
an admin may give a new account (never wider than their own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatcher.access.staff import StaffInfo
from dispatcher.access.staff_admin import Change, scope_covers
from dispatcher.config.configuration import Configuration
from dispatcher.rendering.phone_numbers import readable_phone

#: The message shown after each change (``?done=<key>`` on the account's page).
DONE_WORDS: dict[str, str] = {
    "created": "Account created. Give the person their email and password in person or by "
    "phone, not by email.",
    Change.DISABLE.name.lower(): "Account disabled. It cannot sign in, and anyone signed in "
    "with it is signed out at their next click.",
    Change.ENABLE.name.lower(): "Account enabled. It can sign in again.",
    Change.UNLOCK.name.lower(): "Account unlocked. It can try to sign in again now.",
    Change.RESET_PASSWORD.name.lower(): "Password changed. Give the person the new password "
    "in person or by phone, not by email.",
    Change.CLEAR_SECOND_FACTOR.name.lower(): "Authenticator app cleared. The person sets up "
    "a new one after their password at their next sign-in.",
}

#: The roles as the create form offers them, with what each may do.
ROLE_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("office", "Office", "Sends normal and bulk messages to part of a school."),
    (
        "senior",
        "Senior",
        "Also sends urgent and whole-school messages. Signs in with an authenticator app too.",
    ),
    (
        "admin",
        "Admin",
        "Also manages accounts. Signs in with an authenticator app too.",
    ),
)


@dataclass(frozen=True)
class ScopeChoice:
    """One scope the create form offers: its form value, its words, and what it stores."""

    value: str
    label: str
    school: str | None = None
    trust: str | None = None


def scope_choices(manager: StaffInfo, configuration: Configuration) -> list[ScopeChoice]:
    """The scopes ``manager`` may give an account: each school, trust and (for an admin of
    every school) "every school" that their own scope covers, schools first by name."""
    choices = [
        ScopeChoice(f"school:{slug}", school.name, school=slug)
        for slug, school in sorted(configuration.schools.items(), key=lambda i: i[1].name)
        if scope_covers(manager, slug, None, school.trust)
    ]
    choices += [
        ScopeChoice(f"trust:{slug}", f"Every school of {trust.name}", trust=slug)
        for slug, trust in sorted(configuration.trusts.items(), key=lambda i: i[1].name)
        if scope_covers(manager, None, slug, None)
    ]
    if scope_covers(manager, None, None, None):
        choices.append(ScopeChoice("all", "Every school"))
    return choices


def status_words(account: StaffInfo, now: datetime) -> tuple[str, str]:
    """The account's status and its tag colour: disabled, locked (until when), or active."""
    if account.disabled:
        return "Disabled", "red"
    if account.locked_at(now) and account.locked_until is not None:
        return f"Locked until {account.locked_until:%H:%M} UTC", "orange"
    return "Active", "green"


def second_factor_words(account: StaffInfo) -> str:
    """Whether the account's authenticator app is set up, in words."""
    if account.second_factor_enrolled:
        return "Authenticator app set up"
    if account.needs_second_factor:
        return "Sets up an authenticator app at the next sign-in"
    return "Not needed for the office role"


def scope_words(account: StaffInfo, configuration: Configuration) -> str:
    """Where the account acts, with the school's or trust's name."""
    if account.school is not None:
        school = configuration.schools.get(account.school)
        return school.name if school else account.school
    if account.trust is not None:
        trust = configuration.trusts.get(account.trust)
        return f"Every school of {trust.name if trust else account.trust}"
    return "Every school"


def account_row(
    account: StaffInfo, configuration: Configuration, now: datetime
) -> dict[str, object]:
    """What the list and the account's page show of ``account``."""
    status, colour = status_words(account, now)
    return {
        "id": account.id,
        "email": account.email,
        "role": account.role.value.capitalize(),
        "scope": scope_words(account, configuration),
        "second_factor": second_factor_words(account),
        "last_sign_in": f"{account.last_sign_in_at:%d %b %Y %H:%M} UTC"
        if account.last_sign_in_at
        else "Never",
        "status": status,
        "colour": colour,
        "phone": readable_phone(account.phone) or "None given",
        "disabled": account.disabled,
        "locked": account.locked_at(now),
        "enrolled": account.second_factor_enrolled,
    }
