"""Accounts and requests for the sign-off tests."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatcher.access.staff import StaffInfo, create_staff
from dispatcher.runtime import Runtime
from dispatcher.signoff.requests import store_sign_off_request
from dispatcher.store.models import StaffAccount
from dispatcher.triggers.announcements import AnnouncementRequest
from tests.support.factories import CLOSURE_VARS

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 12, 8, 6, 45, tzinfo=UTC)
CLOSURE = AnnouncementRequest(
    school="demo", category="emergency_closure", audience=["school"], variables=CLOSURE_VARS
)


def account(
    runtime: Runtime,
    email: str,
    role: str = "senior",
    school: str | None = "demo",
    phone: str | None = None,
) -> StaffInfo:
    """A staff account (with ``phone`` when given)."""
    with runtime.sessions() as session:
        info = create_staff(
            session, runtime.configuration, email, role, PASSWORD, NOW, school=school
        )
        if phone is not None:
            row = session.get(StaffAccount, info.id)
            assert row is not None
            row.phone = phone
            session.commit()
    return info


def ask(runtime: Runtime, requester: StaffInfo) -> tuple[int, list[int]]:
    """A waiting whole-school closure asked for by ``requester``: its id and notice ids."""
    with runtime.sessions() as session:
        request_id, work = store_sign_off_request(session, runtime, CLOSURE, requester, NOW)
    return request_id, [w.object_id for w in work]
