"""School rows, mirrored from the configuration files."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatcher.config.schools import SchoolConfig
from dispatcher.store.models import School


def ensure_school(session: Session, school: SchoolConfig) -> School:
    """The row for ``school``, created or updated from its configuration."""
    row = session.scalar(select(School).where(School.slug == school.slug))
    if row is None:
        row = School(
            slug=school.slug, name=school.name, trust=school.trust, created_at=datetime.now(UTC)
        )
        session.add(row)
        session.flush()
    elif (row.name, row.trust) != (school.name, school.trust):
        row.name, row.trust = school.name, school.trust
    return row
