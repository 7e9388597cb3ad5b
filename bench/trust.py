"""The bench trust, shared by the benches that need it (``plan.py``, ``console.py``): 50
schools modelled on ``config/schools/demo.toml``, a fresh database at the newest schema, and
a synthetic roster in every school, loaded the way ``roster import`` does (set-up, never
measured)."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from postgres_admin import admin_execute  # bench/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
SCHOOLS = 50
TRUST = "bench-trust"
SEED = 20_241_124
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
BENCH_DATABASE = "dispatcher_bench"


# --- configuration --------------------------------------------------------------------------


def school_slugs() -> list[str]:
    """The trust's schools: ``bench-school-01`` .. ``bench-school-50``."""
    return [f"bench-school-{n:02d}" for n in range(1, SCHOOLS + 1)]


def write_config(config_dir: Path) -> None:
    """``policy.toml`` and ``reminders.toml`` from the repository, 50 school files modelled
    on ``demo.toml``, each with the demo school's calendar, and the file of the trust they
    name (decision 0072)."""
    (config_dir / "schools").mkdir(parents=True)
    (config_dir / "trusts").mkdir()
    (config_dir / "trusts" / f"{TRUST}.toml").write_text(
        'name = "Bench Trust"\nwebsite = ""\nphone = ""\n', encoding="utf-8"
    )
    shutil.copy(REPO / "config" / "policy.toml", config_dir / "policy.toml")
    shutil.copy(REPO / "config" / "reminders.toml", config_dir / "reminders.toml")
    (config_dir / "calendars").mkdir()
    calendar = (REPO / "config" / "calendars" / "demo.toml").read_text(encoding="utf-8")
    demo = (REPO / "config" / "schools" / "demo.toml").read_text(encoding="utf-8")
    for number, slug in enumerate(school_slugs(), start=1):
        text = (
            demo.replace('name = "Demo Primary School"', f'name = "Bench School {number:02d}"')
            .replace('trust = "demo-trust"', f'trust = "{TRUST}"')
            .replace('sender_id = "DemoPrim"', f'sender_id = "Bench{number:02d}"')
            .replace("demo-primary.example", f"{slug}.example")
        )
        if f"Bench School {number:02d}" not in text or f"Bench{number:02d}" not in text:
            raise SystemExit("config/schools/demo.toml changed shape; update bench/trust.py")
        (config_dir / "schools" / f"{slug}.toml").write_text(text, encoding="utf-8")
        (config_dir / "calendars" / f"{slug}.toml").write_text(calendar, encoding="utf-8")


# --- databases ------------------------------------------------------------------------------


@contextmanager
def fresh_database(
    kind: str, workdir: Path, postgres_url: str, name: str = BENCH_DATABASE
) -> Iterator[str]:
    """A new, empty database at the newest schema; dropped (or deleted) afterwards."""
    from dispatcher.store.engine import upgrade_database

    if kind == "sqlite":
        path = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        upgrade_database(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(postgres_url, f'CREATE DATABASE "{name}"')
    url = f"{postgres_url.rstrip('/')}/{name}"
    try:
        upgrade_database(url)
        yield url
    finally:
        admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_env(database_url: str, workdir: Path, redis_url: str) -> dict[str, str]:
    """The environment variables that point the dispatcher at the bench's trust."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DISPATCHER_DATA_DIR": str(workdir / "data"),
        "DISPATCHER_CONFIG_DIR": str(workdir / "config"),
        "DISPATCHER_TEMPLATES_DIR": str(REPO / "templates"),
    }


# --- roster (setup, not measured) -----------------------------------------------------------


@dataclass
class LoadResult:
    """What the roster load put in the database."""

    students: int
    contacts: int
    links: int
    seconds: float


def load_trust(
    env: dict[str, str], students_per_school: int, log: Callable[[str], None]
) -> LoadResult:
    """Generate each school's roster, parse it and import it the way ``roster import`` does."""
    from sqlalchemy import func, select, text

    from demo_data.rosters import generate_roster_rows
    from dispatcher.runtime import build_runtime
    from dispatcher.settings import Settings
    from dispatcher.store.models import Contact, Student, StudentContact
    from dispatcher.store.schools import ensure_school
    from dispatcher.triggers.roster.load import import_rows
    from dispatcher.triggers.roster.parse import ROSTER_COLUMNS, RowError, parse_roster

    started = time.perf_counter()
    runtime = build_runtime(Settings(**env))  # type: ignore[arg-type]  # validation aliases
    categories = runtime.configuration.policy.categories
    try:
        for index, slug in enumerate(school_slugs()):
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=ROSTER_COLUMNS)
            writer.writeheader()
            writer.writerows(
                generate_roster_rows(slug, students_per_school, SEED + index, invalid_rows=0)
            )
            buffer.seek(0)
            with runtime.sessions() as session:
                school_row = ensure_school(session, runtime.configuration.school(slug))
                session.commit()
                result = import_rows(session, school_row.id, parse_roster(buffer, categories))
            if result.errors:
                bad: RowError = result.errors[0]
                raise SystemExit(f"{slug}: roster row rejected ({bad.column}: {bad.reason})")
            if (index + 1) % 10 == 0:
                elapsed = time.perf_counter() - started
                log(f"  loaded {index + 1}/{SCHOOLS} schools ({elapsed:.0f} s)")
        with runtime.sessions() as session:
            counts = LoadResult(
                students=session.scalar(select(func.count()).select_from(Student)) or 0,
                contacts=session.scalar(select(func.count()).select_from(Contact)) or 0,
                links=session.scalar(select(func.count()).select_from(StudentContact)) or 0,
                seconds=0.0,
            )
        if runtime.engine.dialect.name == "postgresql":
            # What autovacuum does shortly after a bulk load: fresh statistics for the planner.
            with runtime.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(text("ANALYZE"))
    finally:
        runtime.engine.dispose()
    counts.seconds = time.perf_counter() - started
    return counts
