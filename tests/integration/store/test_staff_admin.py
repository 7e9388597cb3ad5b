"""Managing staff accounts against a real database (SQLite and PostgreSQL): each change
does what it says, is an audit entry by its actor and a log line without personal data,
and stays within the admin's scope."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from dispatcher.access.staff import (
    SignIn,
    StaffError,
    StaffInfo,
    check_code,
    check_password,
    create_staff,
    get_staff,
)
from dispatcher.access.staff_admin import Change, Manager, change_staff, manageable_staff
from dispatcher.runtime import Runtime
from dispatcher.store.models import AuditEntry, StaffAccount

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "another fine passphrase"
NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)
CLI = Manager(actor="jo@office-pc")


def make(runtime: Runtime, email: str, role: str = "office", **scope: str) -> StaffInfo:
    with runtime.sessions() as session:
        return create_staff(session, runtime.configuration, email, role, PASSWORD, NOW, **scope)


def change(
    runtime: Runtime, manager: Manager, account_id: int, what: Change, **extra: str
) -> StaffInfo:
    trusts = {slug: s.trust for slug, s in runtime.configuration.schools.items()}
    with runtime.sessions() as session:
        return change_staff(
            session, manager, account_id, what, NOW, school_trust=trusts.get, **extra
        )


def sign_in(runtime: Runtime, email: str, password: str = PASSWORD) -> SignIn:
    with runtime.sessions() as session:
        return check_password(session, email, password, NOW + timedelta(seconds=1)).result


def test_disable_refuses_the_sign_in_like_a_wrong_password_and_enable_restores_it(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    jo = make(runtime, "jo@demo.example.org", school="demo")
    caplog.set_level(logging.INFO)
    disabled = change(runtime, CLI, jo.id, Change.DISABLE)
    assert disabled.disabled and disabled.disabled_at is not None
    assert sign_in(runtime, jo.email) is SignIn.REFUSED
    with runtime.sessions() as session:
        row = session.get(StaffAccount, jo.id)
        assert row is not None and row.failed_attempts == 0  # not counted towards a lockout
    assert not change(runtime, CLI, jo.id, Change.ENABLE).disabled
    assert sign_in(runtime, jo.email) is SignIn.SIGNED_IN
    with runtime.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("staff_account_%abled"))
        ).all()
    assert [(e.actor, e.action) for e in entries] == [
        ("jo@office-pc", "staff_account_disabled"),
        ("jo@office-pc", "staff_account_enabled"),
    ]
    assert entries[0].detail == {"account": f"staff:{jo.id}", "email": "j***@demo.example.org"}
    assert f"staff account staff:{jo.id} disable by the command line" in caplog.text
    assert "jo@demo.example.org" not in caplog.text and "office-pc" not in caplog.text


def test_a_disabled_senior_is_refused_at_the_code_step_too(runtime: Runtime) -> None:
    head = make(runtime, "head@demo.example.org", "senior", school="demo")
    secret = pyotp.random_base32()
    with runtime.sessions() as session:
        row = session.get(StaffAccount, head.id)
        assert row is not None
        row.totp_secret = secret
        session.commit()
    assert sign_in(runtime, head.email) is SignIn.CODE_NEEDED
    change(runtime, CLI, head.id, Change.DISABLE)
    with runtime.sessions() as session:
        outcome = check_code(session, head.id, pyotp.TOTP(secret).at(NOW), NOW)
    assert outcome.result is SignIn.REFUSED


def test_reset_password_unlock_and_clear_second_factor(runtime: Runtime) -> None:
    head = make(runtime, "head@demo.example.org", "senior", school="demo")
    with runtime.sessions() as session:
        row = session.get(StaffAccount, head.id)
        assert row is not None
        row.totp_secret, row.totp_last_step = pyotp.random_base32(), 5
        row.failed_attempts, row.locked_until = 5, NOW + timedelta(minutes=15)
        session.commit()
    assert sign_in(runtime, head.email) is SignIn.REFUSED  # locked
    unlocked = change(runtime, CLI, head.id, Change.UNLOCK)
    assert unlocked.locked_until is None
    with pytest.raises(StaffError) as weak:
        change(runtime, CLI, head.id, Change.RESET_PASSWORD, password="password")
    assert weak.value.field == "password"
    change(runtime, CLI, head.id, Change.RESET_PASSWORD, password=NEW_PASSWORD)
    assert sign_in(runtime, head.email) is SignIn.REFUSED
    assert sign_in(runtime, head.email, NEW_PASSWORD) is SignIn.CODE_NEEDED
    cleared = change(runtime, CLI, head.id, Change.CLEAR_SECOND_FACTOR)
    assert not cleared.second_factor_enrolled
    assert sign_in(runtime, head.email, NEW_PASSWORD) is SignIn.ENROLMENT_NEEDED
    with runtime.sessions() as session:
        row = session.get(StaffAccount, head.id)
        assert row is not None and row.totp_last_step is None
        actions = session.scalars(select(AuditEntry.action)).all()
    for done in (Change.UNLOCK, Change.RESET_PASSWORD, Change.CLEAR_SECOND_FACTOR):
        assert done.value in actions


def test_an_admin_manages_only_the_accounts_inside_their_scope(runtime: Runtime) -> None:
    admin = make(runtime, "admin@demo.example.org", "admin", school="demo")
    trust_admin = make(runtime, "admin@sendat.example.org", "admin", trust="sendat")
    member = next(s for s, c in runtime.configuration.schools.items() if c.trust == "sendat")
    ours = make(runtime, "jo@demo.example.org", school="demo")
    theirs = make(runtime, "sam@brockmoor.example.org", school="brockmoor")
    in_trust = make(runtime, f"kim@{member}.example.org", school=member)
    trusts = {slug: s.trust for slug, s in runtime.configuration.schools.items()}
    with runtime.sessions() as session:
        listed = {a.email for a in manageable_staff(session, admin, trusts.get)}
        trust_listed = {a.email for a in manageable_staff(session, trust_admin, trusts.get)}
    assert listed == {admin.email, ours.email}
    assert trust_listed == {trust_admin.email, in_trust.email}
    with pytest.raises(StaffError) as outside:
        change(runtime, Manager.of(admin), theirs.id, Change.DISABLE)
    assert outside.value.field == "account" and "school brockmoor" in outside.value.message
    with pytest.raises(StaffError) as own:
        change(runtime, Manager.of(admin), admin.id, Change.DISABLE)
    assert "your own account" in own.value.message
    with pytest.raises(StaffError):
        change(runtime, Manager.of(admin), 987654, Change.UNLOCK)
    change(runtime, Manager.of(trust_admin), in_trust.id, Change.DISABLE)
    with runtime.sessions() as session:
        theirs_now, in_trust_now = get_staff(session, theirs.id), get_staff(session, in_trust.id)
        assert theirs_now is not None and not theirs_now.disabled
        assert in_trust_now is not None and in_trust_now.disabled
        actor = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "staff_account_disabled")
        ).one()
    assert actor == f"staff:{trust_admin.id}"


def test_create_keeps_a_mobile_number_as_e164_and_refuses_a_landline(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        made = create_staff(session, runtime.configuration, "a@demo.example.org", "senior",
                            PASSWORD, NOW, school="demo", phone="07700 900123",
                            actor="staff:1")  # fmt: skip
        with pytest.raises(StaffError) as landline:
            create_staff(session, runtime.configuration, "b@demo.example.org", "office",
                         PASSWORD, NOW, school="demo", phone="01632 960000")  # fmt: skip
        entry = session.scalars(select(AuditEntry)).one()
    assert made.phone == "+447700900123"
    assert landline.value.field == "phone"
    assert entry.actor == "staff:1"
