"""The rate guard on limits' MongoDB storage as a real server answers it (``_mongo_double``).

Two server answers mongomock never gives: a window whose entries all aged out but whose document
the TTL monitor has not removed yet reads as ``(None, 0)``; and the loser of two first inserts
of a window gets E11000, which limits reports as "full" with room left. The guard must show an
idle provider's windows and retry a lost race at once. With ``APPLYFLOW_TEST_MONGODB_URI`` the
stale window is also read from a real server.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import mongomock
import pytest
from limits import parse
from limits.storage import MongoDBStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from applyflow.errors import RateLimited
from applyflow.settings import load_settings
from guards.rate import RateGuard, storage_options
from tests.guards._mongo_double import ServerLikeMongoStorage
from tests.mongo_server import MONGO_URI

pytestmark = pytest.mark.mongo

WINDOW_KEY = parse("60/minute").key_for("applyflow", "p", "requests")


class Sleeps(list):
    """Records the guard's waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_guard(storage: Any, tmp_path: Path, sleeps: Sleeps, **settings: Any) -> RateGuard:
    values: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp_path / 'applyflow.db'}",
        "rate_storage_url": "memory://",  # not used: the storage is passed in
        "rate_limits": {"p": "60/minute"},
        "rate_max_wait_s": 2,
    }
    values.update(settings)
    return RateGuard(load_settings(**values), sleep=sleeps, storage=storage)


def age_window(windows: Any, key: str, seconds_ago: float, expire_in_s: float | None) -> None:
    """The last call was ``seconds_ago``; ``expireAt`` moved back as much, or ``expire_in_s``
    ahead (so a real server's TTL monitor cannot remove it while the test reads it)."""
    doc = windows.find_one({"_id": key})
    expire_at = doc["expireAt"].replace(tzinfo=datetime.UTC) - datetime.timedelta(
        seconds=seconds_ago
    )
    if expire_in_s is not None:
        expire_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=expire_in_s)
    windows.update_one(
        {"_id": key},
        {"$set": {"entries": [t - seconds_ago for t in doc["entries"]], "expireAt": expire_at}},
    )


# --- why a double: what plain mongomock and the server-like double answer ---------------------
def test_plain_mongomock_hides_the_stale_window() -> None:
    class OnMongomock(MongoDBStorage):
        def _init_mongo_client(self, uri: str | None, **options: Any) -> Any:
            return mongomock.MongoClient()

    storage = OnMongomock("mongodb://mongomock.test/")
    key = parse("5/minute").key_for("p")
    assert storage.acquire_entry(key, 5, 60)
    age_window(storage.windows, key, 120, expire_in_s=None)
    start, used = storage.get_moving_window(key, 5, 60)
    assert used == 0 and start is not None  # mongomock deleted the expired document on read


def test_the_double_answers_none_for_a_stale_window_as_a_server_does() -> None:
    storage, item = ServerLikeMongoStorage(), parse("5/minute")
    key = item.key_for("p")
    assert storage.acquire_entry(key, 5, 60)
    age_window(storage.windows, key, 120, expire_in_s=None)
    assert storage.get_moving_window(key, 5, 60) == (None, 0)
    with pytest.raises(TypeError):
        MovingWindowRateLimiter(storage).get_window_stats(item, "p")  # limits' own crash
    assert storage.windows.sweep() == 1  # the TTL monitor's pass removes it
    start, used = storage.get_moving_window(key, 5, 60)
    assert used == 0 and start == pytest.approx(time.time(), abs=1)


def test_the_double_loses_a_first_insert_race_with_room_left_as_a_server_does() -> None:
    storage = ServerLikeMongoStorage()
    storage.windows.race_next_upsert(lambda: storage.acquire_entry(WINDOW_KEY, 60, 60))
    assert not storage.acquire_entry(WINDOW_KEY, 60, 60)  # refused by DuplicateKeyError...
    assert storage.get_moving_window(WINDOW_KEY, 60, 60)[1] == 1  # ...with 59 of 60 left
    assert storage.acquire_entry(WINDOW_KEY, 60, 60)  # an immediate retry takes it


# --- the guard on the double --------------------------------------------------------------------
def test_windows_of_an_idle_provider_show_a_free_window(tmp_path: Path) -> None:
    storage, sleeps = ServerLikeMongoStorage(), Sleeps()
    guard = make_guard(storage, tmp_path, sleeps)
    guard.acquire("p")
    age_window(storage.windows, WINDOW_KEY, 120, expire_in_s=None)
    [window] = guard.windows("p")  # limits' get_window_stats: TypeError (None + 60)
    assert (window.remaining, window.reset_in_s) == (60, 0.0)
    guard.acquire("p")
    assert sleeps == []


def test_a_lost_insert_race_is_retried_at_once(tmp_path: Path) -> None:
    storage, sleeps = ServerLikeMongoStorage(), Sleeps()
    guard = make_guard(storage, tmp_path, sleeps)
    other = make_guard(storage, tmp_path, Sleeps())  # another worker on the same windows
    storage.windows.race_next_upsert(lambda: other.acquire("p"))
    guard.acquire("p")  # before the fix: RateLimited, "retry in 60.0s" with 59 of 60 left
    assert sleeps == [pytest.approx(0.005)]  # one minimal step, not a whole window
    assert guard.windows("p")[0].remaining == 58  # both calls counted, none over-admitted


def test_a_full_window_still_waits_for_its_reset(tmp_path: Path) -> None:
    storage, sleeps = ServerLikeMongoStorage(), Sleeps()
    guard = make_guard(storage, tmp_path, sleeps, rate_limits={"p": "2/minute"})
    guard.acquire("p")
    guard.acquire("p")
    with pytest.raises(RateLimited) as refused:
        guard.acquire("p")
    assert 58 < refused.value.retry_after_s <= 60
    assert sleeps == []


# --- a real server --------------------------------------------------------------------------------
@pytest.mark.skipif(not MONGO_URI, reason="needs APPLYFLOW_TEST_MONGODB_URI (a real server)")
def test_a_real_server_reads_a_stale_window_as_none_and_the_guard_shows_it_free(
    tmp_path: Path,
) -> None:
    from tests.mongo_server import fresh_store, session_url

    fresh_store().close()  # empties the session database, rate collections included
    url = session_url()
    storage = storage_from_string(url, **storage_options(url))
    try:
        guard = make_guard(storage, tmp_path, Sleeps())
        guard.acquire("p")
        # Stale entries, expireAt in the future: the TTL monitor cannot sweep it meanwhile.
        age_window(storage.windows, WINDOW_KEY, 120, expire_in_s=600)
        assert storage.get_moving_window(WINDOW_KEY, 60, 60) == (None, 0)
        [window] = guard.windows("p")
        assert (window.remaining, window.reset_in_s) == (60, 0.0)
    finally:
        storage.storage.close()
