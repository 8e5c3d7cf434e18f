"""Dashboard fixtures: the app under AppTest, bound to loopback, "now" pinned, a seeded store."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from applyflow.store import Store
from dashboard import data
from tests.conftest import make_store
from tests.dashboard.seed import Seeded, seed
from tests.loopback import serve

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
MONGOMOCK_URL = "mongodb://mongomock.test/applyflow_test"


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Loopback bind, pinned clock, no Prefect, fresh caches; all restored afterwards."""
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    monkeypatch.setenv(data.NOW_ENV, NOW.isoformat())
    monkeypatch.setenv("APPLYFLOW_BUDGET_DAILY_USD", "0.045")
    for name in ("PREFECT_API_URL", "PREFECT_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    address = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    data.use_store_factory(None)
    try:
        yield
    finally:
        data.use_store_factory(None)
        st_config.set_option("server.address", address)


@pytest.fixture(params=["sqlite", "mongomock"])
def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_env: None
) -> Iterator[tuple[Store, Seeded]]:
    """A seeded store the app reads: SQLite by its URL, mongomock through the same client."""
    store = make_store(request.param, tmp_path)
    ids = seed(store, NOW, UTC)
    if request.param == "sqlite":
        monkeypatch.setenv("APPLYFLOW_STORE_URL", store.url)
    else:
        monkeypatch.setenv("APPLYFLOW_STORE_URL", MONGOMOCK_URL)
        # mongomock is in-process only: the guards' rate windows cannot live in it.
        monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "memory://")
        data.use_store_factory(lambda url: store)
    try:
        yield store, ids
    finally:
        data.use_store_factory(None)
        store.close()


@pytest.fixture
def open_app() -> Callable[..., AppTest]:
    """Run the dashboard (optionally on one page) and return the AppTest."""

    def _open(page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30).run()
        if page:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Health(BaseHTTPRequestHandler):
    """Answers like Prefect's API: ``GET /api/health`` -> 200."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        ok = self.path == "/api/health"
        body = b"true" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback HTTP server standing in for the Prefect API's health route; its base URL."""
    with serve(_Health) as base:
        yield base
