# Copied from limits 5.8.0 (alisaifee/limits, tag 5.8.0, tests/integration/test_concurrency.py).
# Copyright (c) 2023 Ali-Akber Saifee. MIT licence: see LICENSE.txt in this folder.
# Changed: only the sync class (applyflow's storage is sync), without its `integration` mark;
# the tests.utils import points here. Tests and assertions unchanged.
from __future__ import annotations

import random
import threading
import time
from uuid import uuid4


import limits.strategies
from limits.limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from tests.limits_suite.utils import (
    all_storage,
    moving_window_storage,
    sliding_window_counter_storage,
)


class TestConcurrency:
    CONCURRENT_REQUESTS: int = 100

    @all_storage
    def test_fixed_window(self, uri, args, fixture):
        storage = storage_from_string(uri, **args)
        limiter = limits.strategies.FixedWindowRateLimiter(storage)
        limit = RateLimitItemPerMinute(5)

        [limiter.hit(limit, uuid4().hex) for _ in range(self.CONCURRENT_REQUESTS)]

        key = uuid4().hex
        hits = []

        def hit():
            time.sleep(random.random() / 1000)
            if limiter.hit(limit, key):
                hits.append(None)

        threads = [
            threading.Thread(target=hit) for _ in range(self.CONCURRENT_REQUESTS)
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]

        assert len(hits) == 5

    @sliding_window_counter_storage
    def test_sliding_window_counter(self, uri, args, fixture):
        storage = storage_from_string(uri, **args)
        limiter = limits.strategies.SlidingWindowCounterRateLimiter(storage)
        limit = RateLimitItemPerMinute(5)

        [limiter.hit(limit, uuid4().hex) for _ in range(self.CONCURRENT_REQUESTS)]

        key = uuid4().hex
        hits = []

        def hit():
            time.sleep(random.random() / 1000)
            if limiter.hit(limit, key):
                hits.append(None)

        threads = [
            threading.Thread(target=hit) for _ in range(self.CONCURRENT_REQUESTS)
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]

        assert len(hits) == 5

    @moving_window_storage
    def test_moving_window(self, uri, args, fixture):
        storage = storage_from_string(uri, **args)
        limiter = limits.strategies.MovingWindowRateLimiter(storage)
        limit = RateLimitItemPerMinute(5)

        [limiter.hit(limit, uuid4().hex) for _ in range(self.CONCURRENT_REQUESTS)]

        key = uuid4().hex
        hits = []

        def hit():
            time.sleep(random.random() / 1000)
            if limiter.hit(limit, key):
                hits.append(None)

        threads = [
            threading.Thread(target=hit) for _ in range(self.CONCURRENT_REQUESTS)
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]

        assert len(hits) == 5
