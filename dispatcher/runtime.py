"""Everything a process needs, built once from the settings: config, database, templates,
channels and the Redis URL. Actors, the CLI and the sweep all receive a ``Runtime``."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from channels.outbox import OutboxAdapter
from channels.registry import ChannelRegistry
from dispatcher.config import Configuration, load_configuration
from dispatcher.domain import Channel
from dispatcher.embedded_redis import ensure_embedded_redis
from dispatcher.rendering import TemplateLibrary
from dispatcher.settings import Settings, load_settings
from dispatcher.store.engine import make_engine, make_session_factory


@dataclass(frozen=True)
class Runtime:
    """The process's view of its environment."""

    settings: Settings
    configuration: Configuration
    engine: Engine
    sessions: sessionmaker[Session]
    templates: TemplateLibrary
    channels: ChannelRegistry


def resolve_redis_url(settings: Settings) -> str:
    """``REDIS_URL``, or the URL of the data directory's embedded Redis (started if needed)."""
    return settings.redis_url or ensure_embedded_redis(settings.data_dir)


def build_runtime(settings: Settings) -> Runtime:
    """Load config and templates and open the database described by ``settings``."""
    configuration = load_configuration(settings.config_dir)
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    outbox = OutboxAdapter(sessions, settings.outbox_dir)
    registry = ChannelRegistry({channel: outbox for channel in Channel})
    return Runtime(
        settings=settings,
        configuration=configuration,
        engine=engine,
        sessions=sessions,
        templates=TemplateLibrary(settings.templates_dir),
        channels=registry,
    )


_runtimes: dict[Settings, Runtime] = {}
_runtimes_lock = threading.Lock()


def current_runtime() -> Runtime:
    """The runtime for the current environment, built once per distinct settings."""
    settings = load_settings()
    with _runtimes_lock:
        runtime = _runtimes.get(settings)
        if runtime is None:
            runtime = _runtimes[settings] = build_runtime(settings)
        return runtime


def dispose_runtimes() -> None:
    """Close every runtime's database connections and forget them (tests, shutdown)."""
    with _runtimes_lock:
        for runtime in _runtimes.values():
            runtime.engine.dispose()
        _runtimes.clear()
