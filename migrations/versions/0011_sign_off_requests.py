"""two-person sign-off: requests and the notices to staff

Adds ``sign_off_requests`` (an announcement waiting for a second senior: the exact request,
who asked and when, its state, who decided, the reason, the announcement once sent) and
``staff_notifications`` (each text and email telling a senior that a request waits for
them). Decision 0088.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_off_requests",
        sa.Column("id", _id(), nullable=False),
        sa.Column("school_id", _id(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("requested_by_id", _id(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by_id", _id(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("announcement_id", _id(), nullable=True),
        sa.ForeignKeyConstraint(
            ["school_id"], ["schools.id"], name=op.f("fk_sign_off_requests_school_id_schools")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff_accounts.id"],
            name=op.f("fk_sign_off_requests_requested_by_id_staff_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["staff_accounts.id"],
            name=op.f("fk_sign_off_requests_decided_by_id_staff_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_sign_off_requests_announcement_id_announcements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_off_requests")),
    )
    op.create_index(
        "ix_sign_off_requests_school_state", "sign_off_requests", ["school_id", "state"]
    )
    op.create_index(
        op.f("ix_sign_off_requests_requested_by_id"), "sign_off_requests", ["requested_by_id"]
    )
    op.create_table(
        "staff_notifications",
        sa.Column("id", _id(), nullable=False),
        sa.Column("sign_off_request_id", _id(), nullable=False),
        sa.Column("staff_account_id", _id(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("provider_message_id", sa.String(length=100), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sign_off_request_id"],
            ["sign_off_requests.id"],
            name=op.f("fk_staff_notifications_sign_off_request_id_sign_off_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"],
            ["staff_accounts.id"],
            name=op.f("fk_staff_notifications_staff_account_id_staff_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notifications")),
        sa.UniqueConstraint(
            "sign_off_request_id",
            "staff_account_id",
            "channel",
            name="uq_staff_notifications_request_account_channel",
        ),
    )


def downgrade() -> None:
    op.drop_table("staff_notifications")
    op.drop_index(op.f("ix_sign_off_requests_requested_by_id"), table_name="sign_off_requests")
    op.drop_index("ix_sign_off_requests_school_state", table_name="sign_off_requests")
    op.drop_table("sign_off_requests")
