"""message texts

Adds ``message_texts``: the texts families read (SMS body, email subject and plain text,
push title and body), one row per announcement and distinct content (``content_hash``), and
``deliveries.message_text_id``, set with the send record, naming the text each delivery
carried (decision 0077). The retention run erases their subjects and bodies
(``erased_at``; decision 0078). Deliveries sent before this migration have no text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_texts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("announcement_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_message_texts_announcement_id_announcements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_texts")),
        sa.UniqueConstraint(
            "announcement_id", "content_hash", name="uq_message_texts_content"
        ),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_text_id", BigId, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_message_text_id_message_texts"),
            "message_texts",
            ["message_text_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_message_text_id_message_texts"), type_="foreignkey"
        )
        batch_op.drop_column("message_text_id")
    op.drop_table("message_texts")
