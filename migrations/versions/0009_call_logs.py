"""the office's call log

Adds ``call_logs``: each phone call the office made to a family about an announcement (the
contact phoned, the pupil, the outcome, a note, who called and when), so the not-reached list
shrinks as families are told (decision 0084).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "announcement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "student_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("called_by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_call_logs_announcement_id_announcements"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_call_logs_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_call_logs_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_logs")),
    )
    op.create_index(
        op.f("ix_call_logs_announcement_id"), "call_logs", ["announcement_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_call_logs_announcement_id"), table_name="call_logs")
    op.drop_table("call_logs")
