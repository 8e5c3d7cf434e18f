# Copied from limits 5.8.0 (alisaifee/limits, tag 5.8.0, tests/utils.py).
# Copyright (c) 2023 Ali-Akber Saifee. MIT licence: see LICENSE.txt in this folder.
# Changed: the storages are applyflow's sqlite:/// only (no servers, so no lazy fixtures and no
# async helpers). fixed_start, timestamp_based_key_ttl and window are unchanged.
from __future__ import annotations

import contextlib
import functools
import math
import time

import pytest

from limits.limits import RateLimitItem


def fixed_start(fn):
    @functools.wraps(fn)
    def __inner(*a, **k):
        start = time.time()

        while time.time() < math.ceil(start):
            time.sleep(0.01)

        return fn(*a, **k)

    return __inner


def timestamp_based_key_ttl(item: RateLimitItem, now: float | None = None) -> float:
    """
    Return the current timestamp-based key TTL.

    Used for some implementations of thesliding window counter that generates keys based on the timestamp.

    Args:
        item (RateLimitItem): the rate limit item
        now (Optional[float], optional): the current timestamp. If None, generates the current timestamp
    """
    if now is None:
        now = time.time()
    return item.get_expiry() - (now % item.get_expiry())


@contextlib.contextmanager
def window(delay_end: float, delay: float | None = None):
    start = time.time()

    if delay is not None:
        while time.time() - start < delay:
            time.sleep(0.001)
    yield (start, start + delay_end)

    while time.time() - start < delay_end:
        time.sleep(0.001)


# A relative path: conftest.py runs each test in its own tmp_path, so each gets a fresh file.
SQLITE_URI = "sqlite:///limits-rate.db"

ALL_STORAGES = {
    "sqlite": pytest.param(SQLITE_URI, {}, None, id="sqlite"),
}
all_storage = pytest.mark.parametrize("uri, args, fixture", ALL_STORAGES.values())

moving_window_storage = pytest.mark.parametrize(
    "uri, args, fixture",
    [
        storage
        for name, storage in ALL_STORAGES.items()
        if not name.startswith("memcached")
    ],
)

sliding_window_counter_storage = pytest.mark.parametrize(
    "uri, args, fixture", ALL_STORAGES.values()
)
