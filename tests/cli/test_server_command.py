"""`applyflow server` and the flow commands' reuse of one local Prefect server, as a user runs
them: real `applyflow` processes in a fresh folder with no Prefect API configured, and a real
`prefect server` that the first flow command starts (and the last step stops)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.cli.local_server import RECORD_FILE, ServerRecord, ensure_server, find_server
from tests.loopback import Handler, serve

ROOT = Path(__file__).resolve().parents[2]
APPLYFLOW = Path(sys.executable).with_name("applyflow")


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no Prefect API, no Prefect or applyflow settings but the store's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLYFLOW_", "PREFECT_"))}
    env.pop("DO_NOT_TRACK", None)  # the CLI's own defaults are under test
    env.update(
        APPLYFLOW_STORE_URL=f"sqlite:///{tmp / 'store.db'}",
        APPLYFLOW_OUTPUT_DIR=str(tmp / "out"),
        APPLYFLOW_PROFILE=str(ROOT / "samples" / "profile.md"),
        APPLYFLOW_PREFECT_SERVER="local",
    )
    env.update(extra)
    return env


def _cli(tmp: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(APPLYFLOW), *args], cwd=tmp, env=_env(tmp), capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == code, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's parent here may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _record(folder: Path, pid: int, api_url: str = "http://127.0.0.1:9/api") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    log, home = str(folder / "prefect-server.log"), str(folder / "prefect")
    record = ServerRecord(pid, api_url, 9, home, log, "2026-01-01T00:00:00+00:00")
    (folder / RECORD_FILE).write_text(json.dumps(asdict(record)))


@contextlib.contextmanager
def _process(*argv: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(list(argv), start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_record_of_a_gone_or_foreign_process_is_stale(cli_env: Path, runner: CliRunner) -> None:
    folder = cli_env / ".applyflow"
    with _process("sleep", "120") as foreign:
        # A live process that is no Prefect server (a reused pid); a pid above Linux's pid_max.
        for pid in (foreign.pid, 2**22 + 7):
            _record(folder, pid)
            result = runner.invoke(app, ["server", "status", "--json"])
            assert result.exit_code == 1, result.output
            data = json.loads(result.stdout)
            assert (data["running"], data["stale_record_removed"]) == (False, True)
            assert not (folder / RECORD_FILE).exists()
        assert foreign.poll() is None  # a stale record never stops anyone's process
    nothing = runner.invoke(app, ["server", "stop"])
    assert nothing.exit_code == 0 and "no local Prefect server running" in nothing.output


def test_a_live_server_slow_to_answer_is_kept_not_replaced(tmp_path: Path) -> None:
    second = threading.Event()

    class Busy(Handler):
        """The first health check gets no answer until a second one comes (after the first
        gave up); the second is answered at once."""

        count = 0

        def do_GET(self) -> None:
            Busy.count += 1
            if Busy.count == 1:
                second.wait(30)
                return
            second.set()
            self.reply(200, b"true")

    folder = tmp_path / ".applyflow"
    with (
        _process(sys.executable, "-c", "import time; time.sleep(120)", "prefect") as busy,
        serve(Busy) as url,
    ):
        _record(folder, busy.pid, f"{url}/api")
        record, started = ensure_server(folder)
        assert (started, record.pid, busy.poll()) == (False, busy.pid, None)
    assert Busy.count == 2


def test_temporary_mode_starts_no_server(tmp_path: Path) -> None:
    code = (
        "from applyflow.cli.local_server import use_prefect_api, state_dir\n"
        "from applyflow.settings import get_settings\n"
        "print(use_prefect_api(get_settings()), (state_dir() / 'prefect-server.json').exists())\n"
    )
    env = _env(tmp_path, APPLYFLOW_PREFECT_SERVER="temporary")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["None", "False"]  # Prefect's temporary server, as before


def _flow_run(api_url: str, flow_run_id: str) -> dict:
    reply = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.e2e
def test_flow_commands_start_one_local_server_reuse_it_and_stop_it(tmp_path: Path) -> None:
    folder = tmp_path / ".applyflow"
    # A live process under the record that does not answer: replaced, not trusted.
    with _process(sys.executable, "-c", "import time; time.sleep(120)", "prefect") as hung:
        _record(folder, hung.pid)
        first = _cli(tmp_path, "ingest", str(ROOT / "samples" / "postings.json"), "--json")
        assert hung.wait(timeout=30) is not None
    record, _ = find_server(folder)
    assert record is not None
    try:
        [line] = first.stderr.strip().splitlines()  # one line, no telemetry errors, no traceback
        assert line.startswith(f"started a local Prefect server at {record.ui_url}"), line
        assert "`applyflow server stop` stops it" in line
        assert record.home == str(folder / "prefect")  # the default PREFECT_HOME
        report = json.loads(first.stdout)
        assert report["inserted"] > 0
        assert _flow_run(record.api_url, report["flow_run_id"])["state_type"] == "COMPLETED"

        status = json.loads(_cli(tmp_path, "server", "status", "--json").stdout)
        assert (status["running"], status["healthy"], status["pid"]) == (True, True, record.pid)
        again = json.loads(_cli(tmp_path, "server", "start", "--json").stdout)
        assert (again["started"], again["pid"]) == (False, record.pid)
        health = json.loads(_cli(tmp_path, "health", "--json").stdout)["prefect"]
        assert health == {"reachable": True, "detail": f"{record.api_url} answered 200"}

        ran = _cli(tmp_path, "run", "--limit", "1", "--json")
        assert "Prefect server" not in ran.stderr  # reused quietly
        summary = json.loads(ran.stdout)
        assert _flow_run(record.api_url, summary["flow_run_id"])["state_type"] == "COMPLETED"
        assert find_server(folder)[0] == record

        stopped = json.loads(_cli(tmp_path, "server", "stop", "--json").stdout)
        assert stopped["stopped"]["pid"] == record.pid
        assert not _alive(record.pid)
        _cli(tmp_path, "server", "status", code=1)
    finally:
        _stop(record)


def _stop(record: ServerRecord) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)


def test_the_local_server_ui_calls_its_own_port(tmp_path: Path) -> None:
    """Prefect's UI builds its API address from the default port, not from --port: a local
    server on another port is told its own, or its UI cannot reach the API."""
    from applyflow.cli.local_server import _server_env

    assert _server_env(tmp_path, 4321)["PREFECT_UI_API_URL"] == "http://127.0.0.1:4321/api"
