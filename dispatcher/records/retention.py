"""The retention run (decision 0078): after ``DISPATCHER_RETENTION_MONTHS`` the words,
numbers and addresses of what was sent are erased and only the counts remain. Run by
``dispatcher retention run`` and, daily, by the clock. Idempotent: a second run erases
nothing more. The cut-off is computed from the ``now`` it is given (``retention_cutoff``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from dispatcher.store.models import AuditEntry
from dispatcher.store.retention import KINDS, Scope, erase_personal_data

#: How often the clock runs it.
RETENTION_EVERY = timedelta(days=1)


def retention_cutoff(now: datetime, months: int) -> datetime:
    """The moment before which records are erased: ``months`` calendar months before
    ``now`` (31 March less one month is 28 or 29 February)."""
    return now.astimezone(UTC) - relativedelta(months=months)


def retention_due(last_run: datetime | None, now: datetime) -> bool:
    """Whether the clock runs retention at ``now``: never run, or last run a day or more
    before."""
    if last_run is None:
        return True
    last = last_run if last_run.tzinfo else last_run.replace(tzinfo=UTC)
    return now - last >= RETENTION_EVERY


@dataclass(frozen=True)
class RetentionReport:
    """What one run erased (or, in a dry run, would erase), by kind; no personal data."""

    cutoff: datetime
    months: int
    dry_run: bool
    schools: list[str] | None
    erased: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Records erased (or to erase) of every kind."""
        return sum(self.erased.values())

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "months": self.months,
            "dry_run": self.dry_run,
            "schools": self.schools,
            "erased": {kind: self.erased.get(kind, 0) for kind in KINDS},
            "total": self.total,
        }


def run_retention(
    session: Session,
    now: datetime,
    months: int,
    *,
    actor: str,
    school_ids: dict[str, int] | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Erase the personal data of records older than ``months`` before ``now`` (of the
    schools of ``school_ids``, slug to id; None: every school) and write one audit entry
    naming ``actor`` with the counts; commit. ``dry_run`` counts, erases nothing and writes
    no entry."""
    cutoff = retention_cutoff(now, months)
    ids: Sequence[int] | None = list(school_ids.values()) if school_ids is not None else None
    erased = erase_personal_data(session, Scope(cutoff, ids), now, dry_run=dry_run)
    report = RetentionReport(
        cutoff, months, dry_run, sorted(school_ids) if school_ids is not None else None, erased
    )
    if dry_run:
        session.rollback()
        return report
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="retention.run",
            school_id=ids[0] if ids is not None and len(ids) == 1 else None,
            detail=report.as_json(),
        )
    )
    session.commit()
    return report
