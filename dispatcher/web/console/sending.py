"""The console's one way to send an announcement: the request is checked (templates
previewed), the account must be allowed to send it (``access.roles.send_refusal``, the
API's rule), and it is stored with its audit entry naming the account and then its plan is
queued, exactly as the API does. A repeated send with the same idempotency key (a
double-clicked button) finds the first announcement instead of making a second.

A send that needs a second senior's sign-off (``signoff.requests.request_needs_sign_off``:
by default a whole-school urgent one) is stored as a waiting request instead, and the
other seniors are told (decision 0088); sent again with the same key, it finds that
request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from dispatcher.access.roles import send_refusal
from dispatcher.access.staff import StaffInfo
from dispatcher.audience import is_whole_school, parse_audience
from dispatcher.runtime import Runtime
from dispatcher.signoff.requests import request_needs_sign_off
from dispatcher.store.sign_offs import requested_by
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    validate_request,
)
from dispatcher.web.console.sign_off import ask_for_sign_off
from dispatcher.web.routes.announcements import enqueue_plan

#: The ``trigger`` the console's announcements record.
CONSOLE_TRIGGER = "console"


@dataclass(frozen=True)
class Sent:
    """Stored (or found again: ``created`` False) and its plan queued."""

    announcement_id: int
    created: bool


@dataclass(frozen=True)
class Refused:
    """The account may not send it: ``field`` is ``school``, ``category`` or ``audience``."""

    field: str


@dataclass(frozen=True)
class Invalid:
    """The request cannot be sent as it is: ``field`` names what to fix."""

    field: str
    message: str


@dataclass(frozen=True)
class AwaitingSignOff:
    """Stored as waiting for a second senior (or found again); its page is
    ``/sign-off/<request_id>``."""

    request_id: int


SendOutcome = Sent | AwaitingSignOff | Refused | Invalid


def _earlier_sign_off(runtime: Runtime, account: StaffInfo, key: str | None) -> int | None:
    if key is None:
        return None
    with runtime.sessions() as session:
        for row in requested_by(session, account.id):
            if row.request.get("idempotency_key") == key:
                return row.id
    return None


def refusal_of(runtime: Runtime, account: StaffInfo, request: AnnouncementRequest) -> str | None:
    """Which part of ``request`` (``school``, ``category``, ``audience``) ``account`` may
    not send, or None when it may. The request's school and category must exist."""
    school = runtime.configuration.school(request.school)
    category = runtime.configuration.policy.category(request.category)
    refusal = send_refusal(
        account,
        request.school,
        category.name,
        category.urgency,
        is_whole_school(parse_audience(list(request.audience))),
        school.trust,
    )
    return None if refusal is None else refusal[0].removeprefix("body.")


def send_from_console(
    runtime: Runtime, account: StaffInfo, request: AnnouncementRequest, now: datetime
) -> SendOutcome:
    """Send ``request`` for ``account`` (its ``requested_by`` and ``trigger`` are set
    here): ``Invalid`` when it cannot be sent, ``Refused`` when the account may not,
    ``AwaitingSignOff`` when it must wait for a second senior (stored, seniors told),
    otherwise ``Sent`` once stored and queued. Nothing is stored when ``Invalid`` or
    ``Refused``."""
    request = request.model_copy(update={"requested_by": account.name, "trigger": CONSOLE_TRIGGER})
    try:
        validate_request(runtime, request)
    except RequestError as exc:
        return Invalid(exc.field, str(exc).removeprefix(f"{exc.field}: "))
    refused = refusal_of(runtime, account, request)
    if refused is not None:
        return Refused(refused)
    if request_needs_sign_off(runtime, request):
        earlier = _earlier_sign_off(runtime, account, request.idempotency_key)
        if earlier is not None:
            return AwaitingSignOff(earlier)
        with runtime.sessions() as session:
            return AwaitingSignOff(ask_for_sign_off(runtime, session, request, account, now))
    for attempt in range(2):
        try:
            with runtime.sessions() as session:
                announcement, created = create_announcement(session, runtime, request, now)
                session.commit()
                announcement_id, send_at = announcement.id, announcement.send_at
            break
        except IntegrityError:
            # The same key committed by a second click at the same moment: find it.
            if attempt == 1 or not request.idempotency_key:
                raise
    if created:
        enqueue_plan(announcement_id, send_at, now)
    return Sent(announcement_id, created)
