"""Staff accounts of the console: creating and listing them, and deciding a sign-in.

An account has a role (``dispatcher.access.roles``: the API tokens' rules, one
implementation for both) and a scope like a token's: one school, one trust (its member
schools), or neither (every school of this deployment). Passwords are kept as Argon2
hashes (``passwords``); senior and admin accounts also need a TOTP code
(``second_factor``); five failures in a row lock the account (``lockout``), which is
logged with the email masked and recorded in the audit log.

Personal data: an account is named ``staff:<id>`` in the audit log and in every log line;
its email appears only masked (``m***@brockmoor.sch.uk``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumberType
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatcher.access.lockout import after_failure, is_locked
from dispatcher.access.passwords import (
    hash_password,
    needs_rehash,
    password_matches,
    password_problem,
)
from dispatcher.access.roles import RequesterKind, Role
from dispatcher.access.scopes import ScopeError, scope_in_words, scope_school_id
from dispatcher.access.second_factor import matching_step, second_factor_required
from dispatcher.config.configuration import Configuration
from dispatcher.store.models import AuditEntry, School, StaffAccount

log = logging.getLogger("dispatcher.access.staff")

#: Ofcom's drama range (07700 900000-900999): never allocated, so demos and tests use it.
_OFCOM_DRAMA_MOBILE = re.compile(r"^\+447700900\d{3}$")


class StaffError(ValueError):
    """An account cannot be created or changed as asked; ``field`` names the option or form
    field to fix, ``message`` says why (without personal data)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def normalise_mobile(text: str) -> str:
    """``text`` (a UK number as dialled, or international with ``+``) as E.164; raises
    ``StaffError`` naming ``phone`` unless it is a mobile number (the product texts it).
    The message never repeats the number."""
    expected = "expected a mobile number like 07700 900123 or +44 7700 900123"
    try:
        parsed = phonenumbers.parse(text.strip(), "GB")
    except phonenumbers.NumberParseException:
        raise StaffError("phone", expected) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if _OFCOM_DRAMA_MOBILE.match(e164):
        return e164
    mobile_types = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in (
        mobile_types
    ):
        raise StaffError("phone", expected)
    return e164


def mask_email(email: str) -> str:
    """``email`` with all but the first letter of its local part hidden:
    ``m***@brockmoor.sch.uk``. What logs and audit details show of an account."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def normalise_email(text: str) -> str:
    """``text`` as the one form an account's email is stored in (trimmed, lower case);
    raises ``StaffError`` naming ``email`` when it is not an email address."""
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise StaffError("email", "expected an email address like name@school.org") from None
    return checked.normalized.lower()


@dataclass(frozen=True)
class StaffInfo:
    """An account as the rest of the system sees it: never its hash or TOTP secret."""

    id: int
    email: str
    role: Role
    school: str | None
    trust: str | None
    second_factor_enrolled: bool
    created_at: datetime
    last_sign_in_at: datetime | None
    locked_until: datetime | None
    #: A mobile number (E.164) where the product texts them; None: none given.
    phone: str | None = None
    #: When an admin turned the account off; None while it is on.
    disabled_at: datetime | None = None

    @property
    def kind(self) -> RequesterKind:
        """Always a staff account: refusals say "your account" (decision 0095)."""
        return RequesterKind.ACCOUNT

    @property
    def disabled(self) -> bool:
        """Whether an admin turned the account off (it cannot sign in)."""
        return self.disabled_at is not None

    def locked_at(self, now: datetime) -> bool:
        """Whether failed sign-ins keep the account locked at ``now``."""
        return self.locked_until is not None and self.locked_until > now

    @property
    def name(self) -> str:
        """What the audit log and the logs record: ``staff:<id>`` (no personal data)."""
        return f"staff:{self.id}"

    @property
    def scope(self) -> str:
        """Its scope in words: ``school demo``, ``trust sendat`` or ``every school``."""
        return scope_in_words(self.school, self.trust)

    @property
    def needs_second_factor(self) -> bool:
        """Whether this account signs in with a TOTP code too (senior, admin)."""
        return second_factor_required(self.role)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dictionary (what ``dispatcher staff list --json`` prints)."""
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role.value,
            "school": self.school,
            "trust": self.trust,
            "second_factor_enrolled": self.second_factor_enrolled,
            "created_at": self.created_at.isoformat(),
            "last_sign_in_at": self.last_sign_in_at.isoformat() if self.last_sign_in_at else None,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "phone": self.phone,
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }


def _as_utc(moment: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes: they were stored in UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def staff_info(account: StaffAccount, school_slug: str | None) -> StaffInfo:
    """``account`` (a row, of school ``school_slug``) as the rest of the system sees it."""
    return StaffInfo(
        id=account.id,
        email=account.email,
        role=Role(account.role),
        school=school_slug,
        trust=account.trust,
        second_factor_enrolled=account.totp_secret is not None,
        created_at=account.created_at,
        last_sign_in_at=account.last_sign_in_at,
        locked_until=_as_utc(account.locked_until),
        phone=account.phone,
        disabled_at=_as_utc(account.disabled_at),
    )


def _parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise StaffError("role", "expected office, senior or admin") from None


def create_staff(
    session: Session,
    configuration: Configuration,
    email: str,
    role: str,
    password: str,
    now: datetime,
    school: str | None = None,
    trust: str | None = None,
    phone: str | None = None,
    actor: str | None = None,
) -> StaffInfo:
    """Store a new account (its password hashed) and return it. ``school`` scopes it to one
    school, ``trust`` to a trust's member schools, neither to every school; ``phone`` is an
    optional mobile number (stored as E.164). ``actor`` is who creates it for the audit log
    (default: the new account itself).

    Raises ``StaffError`` (naming ``email``, ``role``, ``password``, ``school``, ``trust``
    or ``phone``) for a bad or taken email, an unknown role, a weak password, an unknown
    school or trust, both a school and a trust, or a number that is not a mobile one.
    Commits, with an audit entry.
    """
    address = normalise_email(email)
    mobile = normalise_mobile(phone) if phone and phone.strip() else None
    parsed_role = _parse_role(role)
    problem = password_problem(password)
    if problem is not None:
        raise StaffError("password", problem)
    try:
        school_id = scope_school_id(session, configuration, school, trust)
    except ScopeError as exc:
        raise StaffError(exc.field, exc.message) from None
    taken = StaffError("email", "an account with this email already exists")
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email == address)) is not None:
        raise taken
    row = StaffAccount(
        email=address,
        role=parsed_role.value,
        school_id=school_id,
        trust=trust,
        password_hash=hash_password(password),
        failed_attempts=0,
        created_at=now,
        phone=mobile,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise taken from None
    audit_account(
        session, row, "staff_account_created", now, school_id, actor=actor, role=parsed_role.value
    )
    session.commit()
    return staff_info(row, school)


def list_staff(session: Session) -> list[StaffInfo]:
    """Every account, oldest first."""
    rows = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .order_by(StaffAccount.id)
    ).all()
    return [staff_info(account, slug) for account, slug in rows]


def get_staff(session: Session, account_id: int) -> StaffInfo | None:
    """The account with id ``account_id``, or None."""
    row = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .where(StaffAccount.id == account_id)
    ).one_or_none()
    return None if row is None else staff_info(row[0], row[1])


def staff_named(session: Session, name: str) -> StaffInfo | None:
    """The account the audit log and the records name ``name`` (``staff:<id>``), or None
    for any other name (a token's, the CLI's) or an account no longer there."""
    number = name.removeprefix("staff:")
    if not name.startswith("staff:") or not number.isdigit() or len(number) > 18:
        return None
    return get_staff(session, int(number))


class SignIn(StrEnum):
    """What a password (or a code) attempt leads to."""

    #: Signed in: the console is open.
    SIGNED_IN = "signed_in"
    #: The password was right; a TOTP code is asked next.
    CODE_NEEDED = "code_needed"
    #: The password was right; the second factor must be enrolled first.
    ENROLMENT_NEEDED = "enrolment_needed"
    #: Wrong email, password or code, or a locked account: the same words for each.
    REFUSED = "refused"


@dataclass(frozen=True)
class SignInOutcome:
    """The outcome of an attempt and, unless it was refused, the account."""

    result: SignIn
    account: StaffInfo | None = None


def audit_account(
    session: Session,
    account: StaffAccount,
    action: str,
    now: datetime,
    school_id: int | None = None,
    actor: str | None = None,
    **detail: object,
) -> None:
    """Add an audit entry ``action`` about ``account`` (``staff:<id>``, its email masked)
    by ``actor`` (default: the account itself); the caller commits."""
    session.add(
        AuditEntry(
            at=now,
            actor=actor or f"staff:{account.id}",
            action=action,
            school_id=school_id if school_id is not None else account.school_id,
            detail={"account": f"staff:{account.id}", "email": mask_email(account.email), **detail},
        )
    )


def _fail(session: Session, account: StaffAccount, now: datetime, what: str) -> SignInOutcome:
    failure = after_failure(account.failed_attempts, _as_utc(account.locked_until), now)
    account.failed_attempts = failure.failed_attempts
    account.locked_until = failure.locked_until
    if failure.locked_now:
        log.warning(
            "staff account staff:%s (%s) locked until %s after %s failed sign-ins (last: %s)",
            account.id,
            mask_email(account.email),
            failure.locked_until.isoformat() if failure.locked_until else "-",
            failure.failed_attempts,
            what,
        )
        audit_account(
            session,
            account,
            "staff_account_locked",
            now,
            failed_attempts=failure.failed_attempts,
            locked_until=failure.locked_until.isoformat() if failure.locked_until else None,
        )
    session.commit()
    return SignInOutcome(SignIn.REFUSED)


def _succeed(session: Session, account: StaffAccount, slug: str | None, now: datetime) -> StaffInfo:
    account.failed_attempts = 0
    account.locked_until = None
    account.last_sign_in_at = now
    audit_account(session, account, "staff_signed_in", now)
    session.commit()
    return staff_info(account, slug)


def _account_by_email(session: Session, email: str) -> tuple[StaffAccount, str | None] | None:
    try:
        address = normalise_email(email)
    except StaffError:
        return None
    row = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .where(StaffAccount.email == address)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def check_password(session: Session, email: str, password: str, now: datetime) -> SignInOutcome:
    """The first step of a sign-in. A wrong email, a wrong password and a locked account
    are each ``REFUSED`` after the same work (a password hash is checked in every case).
    A failure counts towards the lockout; a right password for an account without a second
    factor signs in (and resets the count), for a senior or admin asks for the code or its
    enrolment. Commits."""
    found = _account_by_email(session, email)
    account, slug = found if found is not None else (None, None)
    matched = password_matches(account.password_hash if account else None, password)
    if account is None or account.disabled_at is not None:
        return SignInOutcome(SignIn.REFUSED)
    if is_locked(_as_utc(account.locked_until), now) or not matched:
        return _fail(session, account, now, "password")
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    info = staff_info(account, slug)
    if not info.needs_second_factor:
        return SignInOutcome(SignIn.SIGNED_IN, _succeed(session, account, slug, now))
    session.commit()
    if account.totp_secret is None:
        return SignInOutcome(SignIn.ENROLMENT_NEEDED, info)
    return SignInOutcome(SignIn.CODE_NEEDED, info)


def _locked_row(session: Session, account_id: int) -> tuple[StaffAccount, str | None] | None:
    row = session.execute(
        select(StaffAccount, School.slug)
        .outerjoin(School, School.id == StaffAccount.school_id)
        .where(StaffAccount.id == account_id)
        .with_for_update(of=StaffAccount)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def check_code(session: Session, account_id: int, code: str, now: datetime) -> SignInOutcome:
    """The second step, after the password: ``code`` from the account's authenticator.
    A wrong or replayed code counts towards the lockout like a wrong password. Commits."""
    found = _locked_row(session, account_id)
    if found is None:
        return SignInOutcome(SignIn.REFUSED)
    account, slug = found
    if account.disabled_at is not None:
        return SignInOutcome(SignIn.REFUSED)
    if account.totp_secret is None or is_locked(_as_utc(account.locked_until), now):
        return _fail(session, account, now, "code")
    step = matching_step(account.totp_secret, code, now, account.totp_last_step)
    if step is None:
        return _fail(session, account, now, "code")
    account.totp_last_step = step
    return SignInOutcome(SignIn.SIGNED_IN, _succeed(session, account, slug, now))


def enrol_second_factor(
    session: Session, account_id: int, secret: str, code: str, now: datetime
) -> SignInOutcome:
    """Keep ``secret`` as the account's TOTP secret once ``code`` shows that the person's
    app has it, and sign in. An account that already has one is refused (it is changed by an
    admin, not by whoever holds a password). A wrong code counts towards the lockout.
    Commits, with an audit entry."""
    found = _locked_row(session, account_id)
    if found is None:
        return SignInOutcome(SignIn.REFUSED)
    account, slug = found
    if account.disabled_at is not None:
        return SignInOutcome(SignIn.REFUSED)
    if account.totp_secret is not None or is_locked(_as_utc(account.locked_until), now):
        return _fail(session, account, now, "enrolment code")
    step = matching_step(secret, code, now, None)
    if step is None:
        return _fail(session, account, now, "enrolment code")
    account.totp_secret = secret
    account.totp_last_step = step
    audit_account(session, account, "staff_second_factor_enrolled", now)
    return SignInOutcome(SignIn.SIGNED_IN, _succeed(session, account, slug, now))


def record_sign_out(session: Session, account_id: int, now: datetime) -> None:
    """Record in the audit log that the account signed out. Commits."""
    row = session.get(StaffAccount, account_id)
    if row is not None:
        audit_account(session, row, "staff_signed_out", now)
        session.commit()
