"""Prefect servers for benchmarks: the temporary API whose worker processes share one server,
and a real ``prefect server start`` on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["local_server", "shared_api_url", "upsert_rate_limit"]

_START_S = 180.0


def shared_api_url() -> str:
    """The API this process talks to; without PREFECT_API_URL, the temporary server that
    Prefect's ephemeral mode starts (started here, so child processes can be pointed at it)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return url
    server = SubprocessASGIServer()  # the same instance ephemeral mode uses in this process
    server.start(timeout=120)
    return server.api_url


def upsert_rate_limit(name: str, limit: int, slot_decay_per_second: float) -> None:
    """Create (or reset) a global concurrency limit with a slot decay: Prefect's rate limit."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectNotFound):  # a fresh limit: no slots left from before
            client.delete_global_concurrency_limit_by_name(name)
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, slot_decay_per_second=slot_decay_per_second
            )
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _drain_workers() -> None:
    """Send what Prefect's log and event workers still hold while their server is up: a worker
    left for a stopped server waits for it forever at interpreter exit (seen with a second
    server started in the same process)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=30, at_exit=False)


@contextlib.contextmanager
def local_server(**server_env: str) -> Iterator[str]:
    """``prefect server start`` (SQLite in a temporary home) on a free port; yields its API URL
    and points this process at it (``PREFECT_API_URL``). Stopped by its PID at the end."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = Path(tempfile.mkdtemp(prefix="bench-prefect-server-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.update(server_env)
    prefect = Path(sys.executable).parent / "prefect"
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + _START_S
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start: see {home / 'server.log'}")
            time.sleep(0.25)
        os.environ["PREFECT_API_URL"] = url  # for child processes
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        _drain_workers()
        os.environ.pop("PREFECT_API_URL", None)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)
