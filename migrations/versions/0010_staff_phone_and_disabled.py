"""staff accounts: a mobile number and a disabled mark

Adds ``staff_accounts.phone`` (E.164, optional: where a senior is texted when a send waits
for their sign-off) and ``staff_accounts.disabled_at`` (an admin turned the account off: it
cannot sign in, and its sessions end).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("phone")
