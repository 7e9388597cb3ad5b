"""Everything a process needs, built once from the settings: config, database, templates,
channels and the Redis URL. Actors, the CLI and the sweep all receive a ``Runtime``."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.channels.base import ChannelAdapter
from dispatcher.channels.outbox import OutboxAdapter
from dispatcher.channels.registry import ChannelRegistry
from dispatcher.channels.selection import (
    CREDENTIAL_VARIABLES,
    OUTBOX,
    ChannelChoice,
    Route,
    choose,
)
from dispatcher.channels.settings import (
    PROVIDER_VARIABLE_PREFIXES,
    ProviderSettings,
    load_provider_settings,
)
from dispatcher.channels.stops import ChannelStops
from dispatcher.channels.unconfigured import MissingCredentialsAdapter
from dispatcher.config.configuration import Configuration, load_configuration
from dispatcher.config.schools import SchoolConfig
from dispatcher.domain import Channel
from dispatcher.queue.embedded_redis import resolve_redis_url
from dispatcher.queue.heartbeats import Heartbeats
from dispatcher.queue.journal import SendJournal
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.settings import Settings, load_settings
from dispatcher.store.availability import DatabaseBreaker
from dispatcher.store.engine import make_engine, make_session_factory

#: How long a call to Redis for the journal, heartbeats or channel stops may take.
REDIS_TIMEOUT_SECONDS = 5.0


def new_worker_id() -> str:
    """A name for this process's claims: host, process id and a random part (a restarted
    process with the same pid is another worker)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Runtime:
    """The process's view of its environment."""

    settings: Settings
    configuration: Configuration
    engine: Engine
    sessions: sessionmaker[Session]
    templates: TemplateLibrary
    channels: ChannelRegistry
    outbox: OutboxAdapter
    #: Providers stopped for every worker because they refused our account.
    channel_stops: ChannelStops
    #: The circuit breaker on ``engine``: open while the database does not answer.
    database: DatabaseBreaker
    #: The record of sends not yet in the database (``dispatcher.queue.journal``).
    journal: SendJournal
    #: Which worker processes are alive (``dispatcher.queue.heartbeats``).
    heartbeats: Heartbeats
    #: This process's name on its claims and heartbeats.
    worker_id: str
    #: The provider credentials and endpoints this process was built with.
    providers: ProviderSettings
    #: Tokens of the claims this process's threads are sending now (their journal entries
    #: are theirs to record; the replay leaves them alone).
    active_claims: set[str] = field(default_factory=set, init=False, compare=False, repr=False)
    #: Per-process memo of facts that never change once written (an announcement's
    #: category, school and variables), so that delivering does not re-read them.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def choice_for(self, school: SchoolConfig, channel: Channel) -> ChannelChoice:
        """How ``school``'s messages on ``channel`` go here (``channels.selection``)."""
        return choose(school, channel, self.providers)

    def adapter_for(self, school: SchoolConfig, channel: Channel) -> ChannelAdapter:
        """The adapter that sends ``channel`` for ``school``: the outbox where its file
        names the outbox; else the adapter this process sends the channel with; without one
        (no credentials), a stand-in that refuses every message so that they are held
        (``MissingCredentialsAdapter``), or the outbox only where the file says
        ``missing_credentials = "outbox"``."""
        choice = self.choice_for(school, channel)
        if choice.provider == OUTBOX:
            return self.outbox
        adapter = self.channels.adapter_for(channel)
        if adapter is not self.outbox:
            return adapter
        if choice.route is Route.OUTBOX:
            return self.outbox
        key = ("missing-credentials", choice.provider)
        held = self.memo.get(key)
        if held is None:
            variables = choice.missing or CREDENTIAL_VARIABLES.get(choice.provider, ())
            held = self.memo[key] = MissingCredentialsAdapter(choice.provider, variables)
        return cast(ChannelAdapter, held)


def build_runtime(settings: Settings, providers: ProviderSettings | None = None) -> Runtime:
    """Load config and templates and open the database described by ``settings``; send each
    channel through its provider where ``providers`` (default: the environment) has
    credentials, and through the outbox elsewhere."""
    configuration = load_configuration(settings.config_dir)
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    outbox = OutboxAdapter(sessions, settings.outbox_dir)
    providers = providers or load_provider_settings()
    redis_client = (
        redis.Redis.from_url(resolve_redis_url(settings)) if providers.rate_limited else None
    )

    shared: list[redis.Redis[Any]] = []

    def stops_redis() -> redis.Redis[Any]:
        if not shared:
            shared.append(
                redis.Redis.from_url(
                    resolve_redis_url(settings),
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                )
            )
        return shared[0]

    def build_adapters() -> Mapping[Channel, ChannelAdapter]:
        from dispatcher.channels.factory import build_channel_registry, unsubscribable_categories

        return build_channel_registry(
            providers,
            outbox,
            redis_client=redis_client,
            unsubscribable_categories=unsubscribable_categories(
                configuration.policy.categories.values()
            ),
        ).adapters

    return Runtime(
        settings=settings,
        configuration=configuration,
        engine=engine,
        sessions=sessions,
        templates=TemplateLibrary(settings.templates_dir),
        channels=ChannelRegistry.built_on_first_use(build_adapters),
        outbox=outbox,
        channel_stops=ChannelStops(stops_redis),
        database=DatabaseBreaker.for_engine(engine),
        journal=SendJournal(stops_redis),
        heartbeats=Heartbeats(stops_redis, settings.heartbeat_timeout_seconds),
        worker_id=new_worker_id(),
        providers=providers,
    )


_runtimes: dict[tuple[Settings, ProviderSettings], Runtime] = {}
_runtimes_by_env: dict[tuple[tuple[str, str], ...], Runtime] = {}
_runtimes_lock = threading.Lock()
_RUNTIME_PREFIXES = ("DISPATCHER_", *PROVIDER_VARIABLE_PREFIXES)


def current_runtime() -> Runtime:
    """The runtime for the current environment, built once per distinct settings."""
    # Called once per delivery: look the runtime up by the raw environment (cheap) and
    # parse settings only when the environment changed.
    env_key = tuple(
        (name, value)
        for name, value in sorted(os.environ.items())
        if name.startswith(_RUNTIME_PREFIXES) or name in ("DATABASE_URL", "REDIS_URL")
    )
    with _runtimes_lock:
        runtime = _runtimes_by_env.get(env_key)
        if runtime is not None:
            return runtime
        key = (load_settings(), load_provider_settings())
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = build_runtime(*key)
        _runtimes_by_env[env_key] = runtime
        return runtime


def dispose_runtimes() -> None:
    """Close every runtime's database connections and forget them (tests, shutdown)."""
    with _runtimes_lock:
        for runtime in _runtimes.values():
            runtime.engine.dispose()
        _runtimes.clear()
        _runtimes_by_env.clear()
