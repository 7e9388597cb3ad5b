"""PostgreSQL administration shared by the benchmarks: reach the server, run a statement."""

from __future__ import annotations

from typing import Any


def admin_engine(server_url: str) -> Any:
    """An autocommit engine on the server's ``postgres`` database (for CREATE/DROP DATABASE)."""
    from sqlalchemy import create_engine

    return create_engine(
        f"{server_url.rstrip('/')}/postgres",
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )


def postgres_problem(server_url: str) -> str | None:
    """Why PostgreSQL at ``server_url`` cannot be used, or None if it answers."""
    from sqlalchemy import text

    try:
        engine = admin_engine(server_url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def admin_execute(server_url: str, statement: str) -> None:
    """Run one statement (outside a transaction) on the server's ``postgres`` database."""
    from sqlalchemy import text

    engine = admin_engine(server_url)
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()
