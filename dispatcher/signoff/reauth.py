"""Re-authentication for a decision: an approver enters a fresh code from their
authenticator app, even though they signed in with one (decision 0089). The code is one the
account has not used yet (its step is kept, as at sign-in), so a code seen over a shoulder
or left in a form cannot approve a second time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.access.second_factor import matching_step
from dispatcher.store.models import StaffAccount


def confirm_code(session: Session, account_id: int, code: str, now: datetime) -> bool:
    """Whether ``code`` is a current, unused code of the account's authenticator; when it
    is, its step is kept so it cannot be used again. Commits."""
    account = session.scalar(
        select(StaffAccount).where(StaffAccount.id == account_id).with_for_update()
    )
    if account is None or account.totp_secret is None:
        session.rollback()
        return False
    step = matching_step(account.totp_secret, code, now, account.totp_last_step)
    if step is None:
        session.rollback()
        return False
    account.totp_last_step = step
    session.commit()
    return True
