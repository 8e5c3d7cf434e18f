"""Guard test fixtures: settings on a temporary store, fresh breakers, a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from applyflow.settings import Settings, load_settings
from guards.breaker import reset_breakers
from tests.loopback import Handler

PRICES = {
    "fakeai:small": {"input": 1.0, "output": 2.0},
    "fakeai:big": {"input": 100.0, "output": 200.0},
    "otherai:mid": {"input": 3.0, "output": 4.0},
}


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary data folder, fake models priced, generous rate limits."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "store_url": f"sqlite:///{tmp_path / 'applyflow.db'}",
            "rate_storage_url": f"sqlite:///{tmp_path / 'ratelimits.db'}",
            "prices": PRICES,
            "rate_limits": {"fakeai": "100000/minute", "otherai": "100000/minute"},
        }
        values.update(overrides)
        return load_settings(**values)

    return make


class Receiver:
    """A loopback Slack-style webhook: records each JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        received = self

        class Hook(Handler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                received.bodies.append(json.loads(self.body()))
                self.send_response(received.status)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000-SECRET-TOKEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
