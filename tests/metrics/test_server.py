"""The exporter's HTTP side: /metrics only, the bearer token, the binding rule, the command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.metrics import MetricsServer, StoreCollector, binding_refusal
from applyflow.settings import get_settings, load_settings
from applyflow.store import Store
from tests.loopback import free_port
from tests.waiting import wait_for_process

TOKEN = "metrics-token-7f3a"
APPLYFLOW = str(Path(sys.executable).parent / "applyflow")


@pytest.fixture
def served(sqlite_store: Store) -> Iterator[MetricsServer]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(load_settings(), sqlite_store))
    server = MetricsServer(registry, "127.0.0.1", 0, TOKEN).start()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(
    ("host", "token", "refused"),
    [("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False),
     ("0.0.0.0", None, True), ("192.168.1.5", "", True), ("", None, True),
     ("0.0.0.0", TOKEN, False)],
)  # fmt: skip
def test_beyond_loopback_needs_a_token(host: str, token: str | None, refused: bool) -> None:
    why = binding_refusal(host, token)
    assert (why is not None) == refused
    if why:
        assert "APPLYFLOW_METRICS_TOKEN" in why and "\n" not in why


def test_the_token_is_required_and_only_metrics_is_served(served: MetricsServer) -> None:
    assert httpx.get(served.url).status_code == 401
    wrong = httpx.get(served.url, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (
        401,
        'Bearer realm="applyflow"',
    )
    ok = httpx.get(served.url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert "applyflow_store_up 1.0" in ok.text
    assert ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    other = served.url.removesuffix("/metrics") + "/secrets"
    assert httpx.get(other, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_metrics_command_refuses_a_public_address_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLYFLOW_STORE_URL", f"sqlite:///{tmp_path / 's.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["metrics", "--host", "0.0.0.0", "--port", "0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: refusing to serve metrics on 0.0.0.0")


def test_metrics_command_serves_with_the_token_until_stopped(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "metrics.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLYFLOW_")}
    env |= {
        "APPLYFLOW_STORE_URL": f"sqlite:///{tmp_path / 's.db'}",
        "APPLYFLOW_METRICS_TOKEN": TOKEN,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen([APPLYFLOW, "metrics", "--port", str(port)], env=env, cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def answers() -> httpx.Response | None:
        try:
            return httpx.get(url, headers=auth, timeout=2)
        except httpx.HTTPError:
            return None

    try:
        reply = wait_for_process(answers, "the exporter to answer", proc, log, "metrics",
                                 timeout=60)  # fmt: skip
        assert reply.status_code == 200 and "applyflow_jobs{" in reply.text
        assert httpx.get(url, timeout=2).status_code == 401
        assert f"applyflow metrics on {url}" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert TOKEN not in log.read_text()
