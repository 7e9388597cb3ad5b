"""delivery tallies: progress without scanning the deliveries

Adds ``delivery_tallies`` (an announcement's count changes per channel and state, with the
send times they brought) and the triggers on ``deliveries`` that write them in the same
transaction as every insert, state change and delete: the live progress reads these few rows
instead of the announcement's deliveries (decision 0097). Seeds the table from the
deliveries already stored, one row per announcement, channel and state.

On PostgreSQL the triggers are per statement (transition tables): a claim of 100 deliveries
adds a handful of rows, not 100. SQLite has only per-row triggers (and one writer at a time).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = "announcement_id, channel, state, n, first_sent_at, last_sent_at"

_SEED = f"""
INSERT INTO delivery_tallies ({_COLUMNS})
SELECT announcement_id, channel, state, count(*), min(sent_at), max(sent_at)
FROM deliveries GROUP BY announcement_id, channel, state
"""

# A delivery "changed" for the tallies when its state, its send time, its channel or its
# announcement did (nothing moves the last two; counted anyway, so the sums stay right).
_CHANGED_PG = """(cur.state IS DISTINCT FROM prev.state
    OR cur.sent_at IS DISTINCT FROM prev.sent_at
    OR cur.channel IS DISTINCT FROM prev.channel
    OR cur.announcement_id IS DISTINCT FROM prev.announcement_id)"""

_POSTGRESQL = [
    f"""
CREATE FUNCTION delivery_tallies_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    SELECT announcement_id, channel, state, count(*), min(sent_at), max(sent_at)
    FROM new_rows GROUP BY announcement_id, channel, state;
    RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION delivery_tallies_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    SELECT announcement_id, channel, state, sum(n), min(sent_at), max(sent_at)
    FROM (
        SELECT cur.announcement_id, cur.channel, cur.state, 1 AS n, cur.sent_at
        FROM new_rows AS cur JOIN old_rows AS prev ON prev.id = cur.id
        WHERE {_CHANGED_PG}
        UNION ALL
        SELECT prev.announcement_id, prev.channel, prev.state, -1 AS n, NULL AS sent_at
        FROM new_rows AS cur JOIN old_rows AS prev ON prev.id = cur.id
        WHERE {_CHANGED_PG}
    ) AS changes
    GROUP BY announcement_id, channel, state
    HAVING sum(n) <> 0 OR max(sent_at) IS NOT NULL;
    RETURN NULL;
END $$
""",
    f"""
CREATE FUNCTION delivery_tallies_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    SELECT announcement_id, channel, state, -count(*), NULL, NULL
    FROM old_rows GROUP BY announcement_id, channel, state;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER delivery_tallies_insert AFTER INSERT ON deliveries
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_tallies_inserted()
""",
    """
CREATE TRIGGER delivery_tallies_update AFTER UPDATE ON deliveries
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_tallies_updated()
""",
    """
CREATE TRIGGER delivery_tallies_delete AFTER DELETE ON deliveries
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_tallies_deleted()
""",
]

_SQLITE = [
    f"""
CREATE TRIGGER delivery_tallies_insert AFTER INSERT ON deliveries
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    VALUES (new.announcement_id, new.channel, new.state, 1, new.sent_at, new.sent_at);
END
""",
    f"""
CREATE TRIGGER delivery_tallies_update
AFTER UPDATE OF state, sent_at, channel, announcement_id ON deliveries
WHEN new.state IS NOT old.state OR new.sent_at IS NOT old.sent_at
    OR new.channel IS NOT old.channel OR new.announcement_id IS NOT old.announcement_id
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    VALUES (new.announcement_id, new.channel, new.state, 1, new.sent_at, new.sent_at);
    INSERT INTO delivery_tallies ({_COLUMNS})
    VALUES (old.announcement_id, old.channel, old.state, -1, NULL, NULL);
END
""",
    f"""
CREATE TRIGGER delivery_tallies_delete AFTER DELETE ON deliveries
BEGIN
    INSERT INTO delivery_tallies ({_COLUMNS})
    VALUES (old.announcement_id, old.channel, old.state, -1, NULL, NULL);
END
""",
]


def upgrade() -> None:
    op.create_table(
        "delivery_tallies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "announcement_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_tallies")),
    )
    op.create_index(
        op.f("ix_delivery_tallies_announcement_id"),
        "delivery_tallies",
        ["announcement_id"],
        unique=False,
    )
    statements = _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)
    op.execute(_SEED)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in ("insert", "update", "delete"):
        on_table = " ON deliveries" if postgresql else ""
        op.execute(f"DROP TRIGGER IF EXISTS delivery_tallies_{trigger}{on_table}")
    if postgresql:
        for function in ("inserted", "updated", "deleted"):
            op.execute(f"DROP FUNCTION IF EXISTS delivery_tallies_{function}()")
    op.drop_index(op.f("ix_delivery_tallies_announcement_id"), table_name="delivery_tallies")
    op.drop_table("delivery_tallies")
