"""trust-scoped tokens

Adds ``api_tokens.trust``: a token may act for one school (``school_id``), for the member
schools of one trust (``trust``, the slug of ``config/trusts/<slug>.toml``), or, with
neither, for every school of the deployment (decision 0073). Existing tokens keep their scope.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trust", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("trust")
