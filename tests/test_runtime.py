"""The runtime a run takes its dependencies from: production unless one is passed in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from applyflow.runtime import PRODUCTION, Runtime, current_runtime, use_runtime


def test_production_unless_passed_in_and_restored_after() -> None:
    assert current_runtime() is PRODUCTION and PRODUCTION.model_factory is None
    fixed = Runtime(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    inner = Runtime(allow_private_hosts=True)
    with use_runtime(fixed):
        assert current_runtime() is fixed
        with use_runtime(inner):
            assert current_runtime() is inner
        assert current_runtime().clock() == datetime(2026, 1, 1, tzinfo=UTC)
    assert current_runtime() is PRODUCTION


def test_a_plain_thread_starts_with_production() -> None:
    seen: list[Runtime] = []
    with use_runtime(Runtime(allow_private_hosts=True)):
        thread = threading.Thread(target=lambda: seen.append(current_runtime()))
        thread.start()
        thread.join()
    assert seen == [PRODUCTION]
