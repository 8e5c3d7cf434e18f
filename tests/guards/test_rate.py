"""Rate guard: full windows block, daily caps raise at once, waits are bounded, tokens weigh."""

from __future__ import annotations

from pathlib import Path

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from applyflow.errors import RateLimited
from guards.rate import (
    RateGuard,
    rate_storage_url,
    request_limits,
    storage_options,
    token_limits,
)
from guards.rate_sqlite import SQLiteStorage


class Sleeps(list):
    """Records requested waits instead of sleeping (the guard computes them; we check them)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        raise AssertionError(f"the guard tried to wait {seconds:.2f}s")


def test_defaults_per_provider_and_offline_unlimited(make_settings) -> None:
    settings = make_settings(rate_limits={})
    assert [str(i) for i in request_limits(settings, "openai")] == ["500 per 1 minute"]
    assert [str(i) for i in request_limits(settings, "anthropic")] == ["100 per 1 minute"]
    assert [str(i) for i in request_limits(settings, "openrouter")] == ["60 per 1 minute"]
    assert [str(i) for i in request_limits(settings, "mistral")] == ["60 per 1 minute"]
    assert request_limits(settings, "offline") == []
    assert token_limits(settings, "openai") == []
    configured = make_settings(
        rate_limits={"offline": "5/second"}, token_limits={"openai": "9/hour"}
    )
    assert [str(i) for i in request_limits(configured, "offline")] == ["5 per 1 second"]
    assert [str(i) for i in token_limits(configured, "openai")] == ["9 per 1 hour"]


def test_full_window_blocks_the_next_call(make_settings) -> None:
    sleeps = Sleeps()
    guard = RateGuard(
        make_settings(rate_limits={"p1": "3/minute"}, rate_max_wait_s=0), sleep=sleeps
    )
    for _ in range(3):
        guard.acquire("p1")
    with pytest.raises(RateLimited) as err:
        guard.acquire("p1")
    assert err.value.provider == "p1"
    assert err.value.limit == "3 requests/minute"
    assert 0 < err.value.retry_after_s <= 60
    assert "p1 rate limit 3 requests/minute reached; retry in" in str(err.value)
    assert guard.windows("p1")[0].remaining == 0


def test_daily_cap_raises_at_once_and_alerts(make_settings) -> None:
    sleeps, exhausted = Sleeps(), []
    settings = make_settings(rate_limits={"p2": "100/minute;2/day"}, rate_max_wait_s=3600)
    guard = RateGuard(
        settings, sleep=sleeps, on_quota_exhausted=lambda p, lim: exhausted.append((p, lim))
    )
    guard.acquire("p2")
    guard.acquire("p2")
    with pytest.raises(RateLimited) as err:
        guard.acquire("p2")
    assert err.value.limit == "2 requests/day"
    assert err.value.retry_after_s > 3600  # a wait longer than allowed: it never waited
    assert sleeps == []
    assert exhausted == [("p2", "2 requests/day")]


def test_wait_longer_than_the_bound_raises_without_waiting(make_settings) -> None:
    sleeps = Sleeps()
    guard = RateGuard(
        make_settings(rate_limits={"p3": "1/minute"}, rate_max_wait_s=2), sleep=sleeps
    )
    guard.acquire("p3")
    with pytest.raises(RateLimited) as err:
        guard.acquire("p3")
    assert err.value.retry_after_s > 2
    assert sleeps == []


def test_wait_within_the_bound_sleeps_until_the_window_frees(make_settings) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        import time

        waits.append(seconds)
        time.sleep(seconds)

    guard = RateGuard(make_settings(rate_limits={"p4": "2/second"}, rate_max_wait_s=5), sleep=sleep)
    for _ in range(3):
        guard.acquire("p4")
    assert waits, "the third call should have waited for the window"
    assert all(0 < w <= 1.0 for w in waits)  # never longer than the window itself


def test_weighted_token_hits_are_counted(make_settings) -> None:
    settings = make_settings(
        rate_limits={"p5": "1000/minute"}, token_limits={"p5": "1000/minute"}, rate_max_wait_s=0
    )
    guard = RateGuard(settings, sleep=Sleeps())
    guard.acquire("p5", tokens=600)
    with pytest.raises(RateLimited, match="1000 tokens/minute"):
        guard.acquire("p5", tokens=600)
    guard.acquire("p5", tokens=300)
    tokens = next(w for w in guard.windows("p5") if w.kind == "tokens")
    assert tokens.remaining == 100
    requests = next(w for w in guard.windows("p5") if w.kind == "requests")
    assert requests.remaining == 998  # the refused call took no request slot


def test_a_lost_race_never_takes_a_limit_twice(make_settings, monkeypatch) -> None:
    settings = make_settings(
        rate_limits={"p6": "1000/minute"}, token_limits={"p6": "1000/minute"}, rate_max_wait_s=5
    )
    guard = RateGuard(settings, sleep=lambda seconds: None)
    real_hit = guard._sliding.hit
    lost = []

    def hit_losing_once(*args, **kwargs):
        # Another process takes the token room between our test and our hit, once.
        if not lost:
            lost.append(True)
            return False
        return real_hit(*args, **kwargs)

    monkeypatch.setattr(guard._sliding, "hit", hit_losing_once)
    guard.acquire("p6", tokens=10)
    assert lost == [True]
    requests = next(w for w in guard.windows("p6") if w.kind == "requests")
    assert requests.remaining == 999  # one call, one request slot, despite the retry


def test_one_call_larger_than_the_window_is_refused_clearly(make_settings) -> None:
    guard = RateGuard(make_settings(token_limits={"p6": "100/minute"}), sleep=Sleeps())
    with pytest.raises(RateLimited, match="one call needs 500"):
        guard.acquire("p6", tokens=500)


def test_default_storage_follows_the_store(make_settings, tmp_path: Path) -> None:
    assert rate_storage_url(make_settings(rate_storage_url=None)) == (
        f"sqlite:///{tmp_path / 'ratelimits.db'}"
    )
    mongo = make_settings(rate_storage_url=None, store_url="mongodb://db.example:27017/apps")
    assert rate_storage_url(mongo) == "mongodb://db.example:27017/apps"
    explicit = make_settings(rate_storage_url="redis://cache:6379")
    assert rate_storage_url(explicit) == "redis://cache:6379"


def test_mongo_rate_storage_uses_the_store_database_pinned_to_the_primary() -> None:
    import pymongo
    from pymongo.read_preferences import Primary

    url = "mongodb://db.example:27017/apps?readPreference=secondaryPreferred&w=1"
    options = storage_options(url)
    assert {k: options[k] for k in ("database_name", "counter_collection_name")} == {
        "database_name": "apps",
        "counter_collection_name": "ratelimit_counters",
    }
    assert options["window_collection_name"] == "ratelimit_windows"
    # limits hands the rest to pymongo's MongoClient: the options beat the URI's own.
    limits_own = ("database_name", "counter_collection_name", "window_collection_name")
    client_kwargs = {k: v for k, v in options.items() if k not in limits_own}
    client = pymongo.MongoClient(url, connect=False, **client_kwargs)
    try:
        assert isinstance(client.read_preference, Primary)
        assert client.write_concern.document == {"w": "majority"}
        assert client.options.server_selection_timeout == 20  # outlasts an election
        assert client.options.pool_options.socket_timeout == 30  # no half-open hang
    finally:
        client.close()
    assert storage_options("redis://cache:6379/0") == {}
    assert storage_options("sqlite:///x.db") == {}


# --- the SQLite storage on its own, through limits' own strategies -------------------------


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> SQLiteStorage:
    storage = storage_from_string(f"sqlite:///{tmp_path / 'limits.db'}")
    assert isinstance(storage, SQLiteStorage)
    return storage


def test_sqlite_storage_moving_window(sqlite_storage: SQLiteStorage) -> None:
    limiter, item = MovingWindowRateLimiter(sqlite_storage), parse("3/minute")
    assert [limiter.hit(item, "k") for _ in range(4)] == [True, True, True, False]
    assert limiter.get_window_stats(item, "k").remaining == 0
    assert limiter.hit(item, "other")  # keys are independent
    limiter.clear(item, "k")
    assert limiter.hit(item, "k", cost=3)
    assert not limiter.test(item, "k")


def test_sqlite_storage_sliding_window_counter(sqlite_storage: SQLiteStorage) -> None:
    limiter, item = SlidingWindowCounterRateLimiter(sqlite_storage), parse("1000/hour")
    assert limiter.hit(item, "t", cost=700)
    assert not limiter.hit(item, "t", cost=400)
    assert limiter.hit(item, "t", cost=300)
    assert limiter.get_window_stats(item, "t").remaining == 0
    limiter.clear(item, "t")
    assert limiter.get_window_stats(item, "t").remaining == 1000


def test_sqlite_storage_fixed_window_and_housekeeping(sqlite_storage: SQLiteStorage) -> None:
    limiter, item = FixedWindowRateLimiter(sqlite_storage), parse("2/hour")
    assert [limiter.hit(item, "f") for _ in range(3)] == [True, True, False]
    assert sqlite_storage.get_expiry(item.key_for("f")) > 0
    assert sqlite_storage.check()
    assert sqlite_storage.reset() >= 1
    assert limiter.hit(item, "f")


def test_sqlite_storage_rejects_a_url_without_a_path() -> None:
    from limits.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="sqlite:///PATH"):
        SQLiteStorage("sqlite:///")
