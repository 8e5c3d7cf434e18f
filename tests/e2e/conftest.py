"""A real Prefect server for the e2e tests: one per session, on PostgreSQL, on a free port,
stopped by PID.

Every process these tests start runs in its own process group from the repo root, with the
venv's binaries first on PATH, and is stopped by its PID (SIGINT, then SIGKILL) in teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.loopback import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SERVER_START_S = 120.0
STOP_GRACE_S = 20.0


@dataclass
class Proc:
    """A started subprocess and its log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGINT to its process group, SIGKILL after a grace period; children go too."""
        pid = self.popen.pid
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_GRACE_S)
        # Whatever is left of the group (the leader, or a flow run it started) is killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


@dataclass
class PrefectServer:
    """The session's Prefect server and how to start processes that talk to it."""

    api_url: str
    home: Path
    logs: Path
    procs: list[Proc] = field(default_factory=list)
    database_url: str | None = None  # the PostgreSQL database it keeps its state in

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess: this server, no developer settings, venv first."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("APPLYFLOW_", "PREFECT_")) or k == "PREFECT_HOME"
        }
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="1",
            PREFECT_RUNNER_POLL_FREQUENCY="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        """Start ``args`` from the repo root in its own process group; stopped at teardown."""
        log = self.logs / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, args: list[str], env: dict[str, str], timeout: float = 180) -> str:
        """Run a command to completion from the repo root; its output, or fail showing it."""
        done = subprocess.run(
            args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output}"
        return output


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _prefect_server(base: Path, **server_env: str) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port with a temporary PREFECT_HOME; every process
    started through it is stopped at the end, the server last."""
    port = free_port()
    server = PrefectServer(
        api_url=f"http://127.0.0.1:{port}/api", home=base / "home", logs=base / "logs"
    )
    server.home.mkdir()
    server.logs.mkdir()
    try:
        proc = server.start(
            "server",
            [
                str(VENV_BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            # A run refused a deployment slot is retried after 2 s instead of 30 s; expired
            # concurrency leases (a killed holder's) are reclaimed within 1 s of expiring.
            server.env(
                PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2",
                PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS="1",
                PREFECT_UI_API_URL=server.api_url,  # the UI calls its API there, not on 4200
                **server_env,
            ),
        )

        def up() -> bool:
            assert proc.alive(), f"prefect server exited:\n{proc.output()}"
            return _healthy(server.api_url)

        wait_until(up, f"prefect server on port {port}", timeout=SERVER_START_S, interval=0.25)
        yield server
    finally:
        # Workers and serve processes first, the server last.
        for started in reversed(server.procs):
            started.stop()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` on a throwaway PostgreSQL cluster (tests/postgres_server.py), as
    production runs it: PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://..."""
    from tests.postgres_server import running_postgres

    with (
        running_postgres() as database_url,
        _prefect_server(
            tmp_path_factory.mktemp("prefect-server"),
            PREFECT_API_DATABASE_CONNECTION_URL=database_url,
        ) as server,
    ):
        server.database_url = database_url
        yield server
