"""open deliveries index

Replaces ``ix_deliveries_state (state, announcement_id)`` with ``ix_deliveries_open``, a
partial index on ``id`` of the deliveries not yet handed to a provider. The old index tempted
PostgreSQL, whenever its statistics lagged behind a freshly planned announcement, into
scanning every pending entry to claim each batch of fifty; the partial one is small, serves
the sweep and ``--until-idle`` as before, and a delivery leaves it once sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = sa.text("state IN ('pending', 'held', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state")
        batch_op.create_index(
            "ix_deliveries_open", ["id"], unique=False, postgresql_where=OPEN, sqlite_where=OPEN
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_open", postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.create_index("ix_deliveries_state", ["state", "announcement_id"], unique=False)
