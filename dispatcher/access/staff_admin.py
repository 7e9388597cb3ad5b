"""Managing staff accounts after their creation: disable and enable, unlock, reset a
password, clear the second factor (so that the person enrols again). Used by both
``dispatcher staff ...`` and the console's accounts pages.

Who may manage whom is one pure rule (``manage_refusal``): an admin manages the accounts
within their own scope (a school admin their school's accounts, a trust admin the accounts
of the trust and of its member schools, an admin of every school every account), and
nobody disables themselves. Every change is an audit entry naming the actor (``staff:<id>``
in the console, the OS user in the CLI) and the account as ``staff:<id>`` with its email
masked, and a log line without personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.access.passwords import hash_password, password_problem
from dispatcher.access.roles import Role
from dispatcher.access.staff import (
    StaffError,
    StaffInfo,
    audit_account,
    list_staff,
    normalise_email,
    staff_info,
)
from dispatcher.store.models import School, StaffAccount

log = logging.getLogger("dispatcher.access.staff_admin")


class Change(StrEnum):
    """What an admin does to an account; the value is the audit log's action."""

    DISABLE = "staff_account_disabled"
    ENABLE = "staff_account_enabled"
    UNLOCK = "staff_account_unlocked"
    RESET_PASSWORD = "staff_password_reset"
    CLEAR_SECOND_FACTOR = "staff_second_factor_cleared"


#: Each change as the console and the CLI report it (``… staff:7``).
CHANGE_WORDS: dict[Change, str] = {
    Change.DISABLE: "disabled: it cannot sign in, and its open sessions end",
    Change.ENABLE: "enabled: it can sign in again",
    Change.UNLOCK: "unlocked: it can try to sign in again",
    Change.RESET_PASSWORD: "given a new password",
    Change.CLEAR_SECOND_FACTOR: "cleared of its authenticator app: it sets one up at its "
    "next sign-in",
}


@dataclass(frozen=True)
class Manager:
    """Who manages accounts: an admin's account (``staff:<id>``), or, from the command
    line, whoever runs it on the server (every account: they hold the database)."""

    actor: str
    account: StaffInfo | None = None

    @property
    def log_name(self) -> str:
        """What log lines call them: ``staff:<id>`` or ``the command line`` (no OS user
        name in the logs; the audit log has it)."""
        return self.account.name if self.account is not None else "the command line"

    @classmethod
    def of(cls, account: StaffInfo) -> Manager:
        """An admin managing from the console."""
        return cls(actor=account.name, account=account)


def scope_covers(
    manager: StaffInfo, school: str | None, trust: str | None, school_trust: str | None
) -> bool:
    """Whether ``manager``'s scope covers a scope of ``school`` (a member of
    ``school_trust``) or ``trust`` or, with neither, every school. A school admin covers
    their school; a trust admin their trust and its member schools; an admin of every
    school covers everything."""
    if manager.school is not None:
        return school == manager.school
    if manager.trust is not None:
        if school is not None:
            return school_trust == manager.trust
        return trust == manager.trust
    return True


def manage_refusal(
    manager: StaffInfo, target: StaffInfo, target_school_trust: str | None
) -> str | None:
    """Why ``manager`` may not manage ``target`` (its school a member of
    ``target_school_trust``), in words for the manager, or None when they may."""
    if manager.role is not Role.ADMIN:
        return "your account does not have the admin role: ask an administrator"
    if not scope_covers(manager, target.school, target.trust, target_school_trust):
        return f"this account acts for {target.scope}, outside your account's {manager.scope}"
    return None


def change_refusal(manager: StaffInfo, target: StaffInfo, change: Change) -> str | None:
    """Why ``manager`` may not make ``change`` to ``target`` even within their scope, or
    None: nobody disables themselves (they would lock the door behind them)."""
    if change is Change.DISABLE and manager.id == target.id:
        return "you cannot disable your own account: ask another administrator"
    return None


def _row(session: Session, account_id: int) -> tuple[StaffAccount, str | None] | None:
    row = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .where(StaffAccount.id == account_id)
        .with_for_update(of=StaffAccount)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def staff_id_by_email(session: Session, email: str) -> int:
    """The id of the account whose email is ``email``; raises ``StaffError`` naming
    ``email`` when there is none (or it is not an email address)."""
    address = normalise_email(email)
    found = session.scalar(select(StaffAccount.id).where(StaffAccount.email == address))
    if found is None:
        raise StaffError("email", "no account has this email")
    return int(found)


def _apply(change: Change, account: StaffAccount, now: datetime, password: str | None) -> None:
    actions: dict[Change, Callable[[], None]] = {
        Change.DISABLE: lambda: setattr(account, "disabled_at", account.disabled_at or now),
        Change.ENABLE: lambda: setattr(account, "disabled_at", None),
        Change.UNLOCK: lambda: _unlock(account),
        Change.RESET_PASSWORD: lambda: _new_password(account, password),
        Change.CLEAR_SECOND_FACTOR: lambda: _clear_second_factor(account),
    }
    actions[change]()


def _unlock(account: StaffAccount) -> None:
    account.failed_attempts = 0
    account.locked_until = None


def _new_password(account: StaffAccount, password: str | None) -> None:
    assert password is not None
    account.password_hash = hash_password(password)
    _unlock(account)


def _clear_second_factor(account: StaffAccount) -> None:
    account.totp_secret = None
    account.totp_last_step = None


def change_staff(
    session: Session,
    manager: Manager,
    account_id: int,
    change: Change,
    now: datetime,
    password: str | None = None,
    school_trust: Callable[[str], str | None] = lambda _: None,
) -> StaffInfo:
    """Make ``change`` to the account ``account_id`` for ``manager`` and return it as it is
    now. ``password`` is the new one of ``RESET_PASSWORD`` (which also unlocks);
    ``school_trust`` gives a school's trust (for a trust admin's scope).

    Raises ``StaffError`` naming ``account`` (no such account, or outside the manager's
    scope, or their own account to disable) or ``password`` (a weak one). Commits, with an
    audit entry and a log line naming only ``staff:<id>``.
    """
    if change is Change.RESET_PASSWORD:
        problem = password_problem(password or "")
        if problem is not None:
            raise StaffError("password", problem)
    found = _row(session, account_id)
    if found is None:
        raise StaffError("account", "no such account")
    account, slug = found
    target = staff_info(account, slug)
    if manager.account is not None:
        refusal = manage_refusal(manager.account, target, school_trust(slug) if slug else None)
        refusal = refusal or change_refusal(manager.account, target, change)
        if refusal is not None:
            session.rollback()
            raise StaffError("account", refusal)
    _apply(change, account, now, password)
    audit_account(session, account, change.value, now, actor=manager.actor)
    session.commit()
    log.info("staff account staff:%s %s by %s", account.id, change.name.lower(), manager.log_name)
    return staff_info(account, slug)


def manageable_staff(
    session: Session, manager: StaffInfo, school_trust: Callable[[str], str | None]
) -> list[StaffInfo]:
    """The accounts ``manager`` may manage (none unless an admin), oldest first."""
    if manager.role is not Role.ADMIN:
        return []
    return [
        account
        for account in list_staff(session)
        if manage_refusal(
            manager, account, school_trust(account.school) if account.school else None
        )
        is None
    ]
