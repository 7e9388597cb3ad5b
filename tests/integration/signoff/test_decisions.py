"""Sign-off requests stored and decided on SQLite and PostgreSQL: approving creates the
announcement once even when two seniors approve at the same moment; nobody approves their
own; withdraw and reject send nothing; the audit log names who did what."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatcher.access.staff import StaffInfo
from dispatcher.domain import SignOffState
from dispatcher.runtime import Runtime
from dispatcher.signoff import decisions
from dispatcher.signoff.decisions import DecisionError
from dispatcher.signoff.requests import request_needs_sign_off
from dispatcher.store.models import Announcement, AuditEntry
from dispatcher.store.sign_offs import get_sign_off, notifications_of, waiting_for
from dispatcher.triggers.announcements import RequestError
from tests.integration.signoff.helpers import CLOSURE, NOW, account, ask


def _announcements(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Announcement)) or 0)


def _actions(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        return [
            (e.action, e.actor)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith(("sign_off.", "announcement."))
        ]


def test_a_request_waits_and_tells_every_other_senior_of_the_school(runtime: Runtime) -> None:
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org", phone="+447700900123")
    trust_admin = account(runtime, "it@demo-trust.example.org", "admin", school=None)
    account(runtime, "office@demo.example.org", "office")
    account(runtime, "head@brockmoor.example.org", school="brockmoor")
    request_id, notice_ids = ask(runtime, head)
    with runtime.sessions() as session:
        row = get_sign_off(session, request_id)
        notices = notifications_of(session, request_id)
        waiting = waiting_for(session, ["demo"], deputy.id)
        not_own = waiting_for(session, ["demo"], head.id)
    assert row is not None and row.state is SignOffState.WAITING
    assert row.request["requested_by"] == head.name
    assert row.request["variables"] == {"date": "Tuesday 24 November", "reason": "heavy snow"}
    told = sorted((n.staff_account_id, n.channel) for n in notices)
    assert told == sorted([(deputy.id, "email"), (deputy.id, "sms"), (trust_admin.id, "email")])
    assert sorted(notice_ids) == sorted(n.id for n in notices)
    assert [r.id for r in waiting] == [request_id]
    assert not_own == []
    assert _announcements(runtime) == 0
    assert _actions(runtime) == [("sign_off.requested", head.name)]
    assert request_needs_sign_off(runtime, CLOSURE)
    assert not request_needs_sign_off(runtime, CLOSURE.model_copy(update={"audience": ["year:6"]}))


def test_an_office_account_cannot_ask_for_an_urgent_whole_school_send(runtime: Runtime) -> None:
    office = account(runtime, "office@demo.example.org", "office")
    with pytest.raises(RequestError) as refused:
        ask(runtime, office)
    assert refused.value.field == "category"


def test_approving_sends_on_the_requesters_authority_and_nobody_approves_their_own(
    runtime: Runtime,
) -> None:
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org")
    office = account(runtime, "office@demo.example.org", "office")
    request_id, _ = ask(runtime, head)
    with runtime.sessions() as session:
        for person, status in ((head, 403), (office, 403)):
            with pytest.raises(DecisionError) as refused:
                decisions.approve(session, runtime, request_id, person, NOW)
            assert refused.value.status == status
        decided = decisions.approve(session, runtime, request_id, deputy, NOW)
        with pytest.raises(DecisionError) as again:
            decisions.approve(session, runtime, request_id, deputy, NOW)
        row = get_sign_off(session, request_id)
        announcement = session.get(Announcement, decided.announcement_id)
    assert again.value.status == 409
    assert row is not None and row.state is SignOffState.APPROVED
    assert row.decided_by == deputy.name and row.announcement_id == decided.announcement_id
    assert announcement is not None and announcement.requested_by == head.name
    assert [w.object_id for w in decided.work] == [decided.announcement_id]
    assert _actions(runtime)[-2:] == [
        ("announcement.created", head.name),
        ("sign_off.approved", deputy.name),
    ]


def test_two_seniors_approving_at_once_send_one_announcement(runtime: Runtime) -> None:
    head = account(runtime, "head@demo.example.org")
    seniors = [account(runtime, f"deputy{n}@demo.example.org") for n in range(2)]
    request_id, _ = ask(runtime, head)
    barrier = threading.Barrier(len(seniors))
    outcomes: list[decisions.Decided | int] = []

    def approve(senior: StaffInfo) -> None:
        with runtime.sessions() as session:
            barrier.wait()
            try:
                outcomes.append(decisions.approve(session, runtime, request_id, senior, NOW))
            except DecisionError as exc:
                outcomes.append(exc.status)

    threads = [threading.Thread(target=approve, args=(s,)) for s in seniors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(str(o) for o in outcomes if isinstance(o, int)) == ["409"]
    assert _announcements(runtime) == 1
    assert [a for a, _ in _actions(runtime)].count("sign_off.approved") == 1


def test_withdraw_and_reject_send_nothing(runtime: Runtime) -> None:
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org")
    withdrawn, _ = ask(runtime, head)
    rejected, _ = ask(runtime, head)
    with runtime.sessions() as session:
        with pytest.raises(DecisionError) as not_theirs:
            decisions.withdraw(session, runtime, withdrawn, deputy, NOW)
        decisions.withdraw(session, runtime, withdrawn, head, NOW)
        with pytest.raises(DecisionError) as no_reason:
            decisions.reject(session, runtime, rejected, deputy, "  ", NOW)
        decisions.reject(session, runtime, rejected, deputy, "Not snowing", NOW)
        with pytest.raises(DecisionError) as decided:
            decisions.approve(session, runtime, rejected, deputy, NOW)
        rows = [get_sign_off(session, i) for i in (withdrawn, rejected)]
    assert not_theirs.value.status == 403 and no_reason.value.status == 400
    assert decided.value.status == 409
    assert [r.state for r in rows if r] == [SignOffState.WITHDRAWN, SignOffState.REJECTED]
    assert rows[1] is not None and rows[1].reason == "Not snowing"
    assert _announcements(runtime) == 0
    assert ("sign_off.rejected", deputy.name) in _actions(runtime)
    with runtime.sessions() as session:
        details = [e.detail for e in session.scalars(select(AuditEntry))]
    assert all("Not snowing" not in str(d) for d in details)


def test_break_glass_opens_only_after_the_schools_delay(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatcher.config.sign_off import SignOffConfig

    school = runtime.configuration.schools["demo"]
    head = account(runtime, "head@demo.example.org")
    request_id, _ = ask(runtime, head)
    with runtime.sessions() as session:
        with pytest.raises(DecisionError) as off:
            decisions.break_glass(session, runtime, request_id, head, NOW)
        monkeypatch.setitem(
            runtime.configuration.schools,
            "demo",
            school.model_copy(update={"sign_off": SignOffConfig(break_glass_after_minutes=10)}),
        )
        with pytest.raises(DecisionError) as early:
            decisions.break_glass(session, runtime, request_id, head, NOW + timedelta(minutes=9))
        decided = decisions.break_glass(
            session, runtime, request_id, head, NOW + timedelta(minutes=10)
        )
    assert "does not allow" in off.value.message
    assert "06:55 UTC" in early.value.message
    assert decided.state is SignOffState.BROKE_GLASS and decided.announcement_id is not None
    assert ("sign_off.break_glass", head.name) in _actions(runtime)


def test_retention_erases_a_rejections_reason_and_keeps_the_request(runtime: Runtime) -> None:
    from dispatcher.store.retention import Scope, erase_personal_data

    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org")
    request_id, _ = ask(runtime, head)
    with runtime.sessions() as session:
        decisions.reject(session, runtime, request_id, deputy, "Ring me first", NOW)
        kept = erase_personal_data(session, Scope(cutoff=NOW), NOW)
        erased = erase_personal_data(session, Scope(cutoff=NOW + timedelta(days=1)), NOW)
        session.commit()
        row = get_sign_off(session, request_id)
    assert kept["sign_off_reasons"] == 0 and erased["sign_off_reasons"] == 1
    assert row is not None and row.reason is None and row.state is SignOffState.REJECTED


def test_a_request_whose_category_is_gone_cannot_be_approved_and_says_why(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = account(runtime, "head@demo.example.org")
    deputy = account(runtime, "deputy@demo.example.org")
    request_id, _ = ask(runtime, head)
    monkeypatch.delitem(runtime.configuration.policy.categories, "emergency_closure")
    with runtime.sessions() as session:
        with pytest.raises(DecisionError) as refused:
            decisions.approve(session, runtime, request_id, deputy, NOW)
        row = get_sign_off(session, request_id)
    assert refused.value.status == 409 and "cannot be sent" in refused.value.message
    assert row is not None and row.state is SignOffState.WAITING
    assert _announcements(runtime) == 0
