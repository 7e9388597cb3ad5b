"""claims and the send journal

Adds to ``deliveries`` what exactly-once sending needs (decision 0055): which worker process
holds a claim (``claimed_by``) and the claim's token (``claim_token``, named by the send
journal's entries in Redis), how many requests were made to a provider
(``provider_requests``), and whether a delivery may have reached its family twice
(``possible_duplicate``: released after its worker died while its request was in flight),
and an index of the deliveries being sent by worker (what the quick sweep asks every second).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


SENDING = sa.text("state = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("provider_requests", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "possible_duplicate",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("false"),
            )
        )
        batch_op.create_index(
            "ix_deliveries_sending",
            ["claimed_by"],
            unique=False,
            postgresql_where=SENDING,
            sqlite_where=SENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_sending", postgresql_where=SENDING, sqlite_where=SENDING)
        batch_op.drop_column("possible_duplicate")
        batch_op.drop_column("provider_requests")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("claimed_by")
