"""Console sessions and the sign-in throttle on a real Redis: idle timeout, absolute
lifetime, ending, and the limits per address and per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from dispatcher.web.console.sessions import SessionStore, Stage
from dispatcher.web.console.throttle import ATTEMPTS_PER_ACCOUNT, SignInThrottle

NOW = datetime(2026, 12, 7, 6, 45, tzinfo=UTC)


def _client(clean_redis: Any) -> redis.Redis[Any]:
    client: redis.Redis[Any] = clean_redis.client
    return client


def test_a_session_lives_until_idle_or_too_old_and_ends_when_asked(clean_redis: Any) -> None:
    client = _client(clean_redis)
    store = SessionStore(lambda: client, timedelta(minutes=30), timedelta(hours=12))
    session = store.start(NOW, Stage.SIGNED_IN, account_id=7)
    loaded = store.load(session.id, NOW + timedelta(minutes=5))
    assert loaded is not None and (loaded.account_id, loaded.stage) == (7, Stage.SIGNED_IN)
    assert loaded.csrf_matches(session.csrf_token) and not loaded.csrf_matches("forged")
    assert not loaded.csrf_matches(None)
    # Redis keeps it for the idle timeout only, and never under the cookie's own value.
    keys = [k.decode() for k in client.keys("dispatcher:console:session:*")]
    assert len(keys) == 1 and session.id not in keys[0]
    assert 0 < client.ttl(keys[0]) <= 30 * 60
    assert store.load(session.id, NOW + timedelta(hours=12, seconds=1)) is None
    assert client.keys("dispatcher:console:session:*") == []  # too old: deleted

    other = store.start(NOW)
    store.end(other.id)
    assert store.load(other.id, NOW) is None
    assert store.load("no such session", NOW) is None
    assert store.load("x" * 500, NOW) is None


def test_attempts_are_limited_per_address_and_per_account(clean_redis: Any) -> None:
    client = _client(clean_redis)
    throttle = SignInThrottle(lambda: client, per_address=3)
    assert all(throttle.allow("10.0.0.1", f"a{n}@x.org") for n in range(3))
    assert not throttle.allow("10.0.0.1", "a9@x.org")  # the address is over its limit
    for _ in range(ATTEMPTS_PER_ACCOUNT):
        assert SignInThrottle(lambda: client, per_address=1000).allow("10.0.0.2", "b@x.org")
    assert not SignInThrottle(lambda: client, per_address=1000).allow("10.0.0.3", "B@x.org")
    assert not any(b"b@x.org" in k or b"10.0.0" in k for k in client.keys("*attempts*"))
