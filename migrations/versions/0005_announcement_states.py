"""announcement states in plain words

The announcement states become received, planning, sending, done and cancelled (decision
0068). An announcement that was ``planned`` (every delivery written) is ``sending`` while one
of its deliveries is still pending, held or being sent, and ``done`` otherwise. No column
changes: ``announcements.state`` is a string.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OPEN = "('pending', 'held', 'sending')"


def upgrade() -> None:
    op.execute(
        "UPDATE announcements SET state = 'sending' WHERE state = 'planned' AND EXISTS "
        "(SELECT 1 FROM deliveries WHERE deliveries.announcement_id = announcements.id "
        f"AND deliveries.state IN {_OPEN})"
    )
    op.execute("UPDATE announcements SET state = 'done' WHERE state = 'planned'")


def downgrade() -> None:
    op.execute("UPDATE announcements SET state = 'planned' WHERE state IN ('sending', 'done')")
