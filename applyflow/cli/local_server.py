"""One local Prefect server that flow commands reuse (`applyflow server` in ``server.py``).

Without a configured Prefect API, Prefect starts a temporary server for every command (13-23 s
on two cores) and stops it at exit. Instead, flow commands use one ``prefect server start`` on
127.0.0.1 (PREFECT_HOME, default ``.applyflow/prefect``), recorded in
``.applyflow/prefect-server.json`` (pid, API URL); they start it on first use and leave it
running, so later commands only pay a health check and their runs stay in its UI.
``APPLYFLOW_PREFECT_SERVER=temporary`` keeps Prefect's temporary server instead.

A record whose process is gone (or is no longer a Prefect server) is stale: it is removed and
a new server is started. A file lock keeps two commands from starting two servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from applyflow.cli._app import err_console
from applyflow.errors import ApplyflowError
from applyflow.settings import Settings

__all__ = [
    "ServerRecord",
    "configured_api_url",
    "ensure_server",
    "find_server",
    "start_server",
    "state_dir",
    "stop_server",
    "use_prefect_api",
]

STATE_DIR = Path(".applyflow")
RECORD_FILE = "prefect-server.json"
LOG_FILE = "prefect-server.log"
LOCK_FILE = "prefect-server.lock"
HOST = "127.0.0.1"
DEFAULT_PORT = 4200
HEALTH_TIMEOUT_S = 1.0
BUSY_GRACE_S = 15.0
START_TIMEOUT_S = 120.0  # the first start migrates Prefect's database: slow on a busy machine
STOP_GRACE_S = 15.0
POLL_S = 0.2


class ServerError(ApplyflowError):
    """The local Prefect server could not be started or stopped."""


@dataclass
class ServerRecord:
    """What ``.applyflow/prefect-server.json`` says about the server applyflow started."""

    pid: int
    api_url: str
    port: int
    home: str
    log: str
    started_at: str

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def state_dir() -> Path:
    """``.applyflow`` of the working folder (beside the default store and PREFECT_HOME)."""
    return STATE_DIR.resolve()


def _read(folder: Path) -> ServerRecord | None:
    try:
        return ServerRecord(**json.loads((folder / RECORD_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):  # a damaged record is a stale one
        return ServerRecord(0, "", 0, "", "", "")


def _alive(pid: int) -> bool:
    """A live process with this pid that looks like a Prefect server (pids get reused)."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError):  # a server this process started and stopped
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no /proc (macOS): the pid is all there is to go on
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return state != "Z" and b"prefect" in cmdline


def _health(api_url: str, timeout_s: float) -> bool | None:
    """True: the API answers its health check; False: not (yet); None: nothing listens."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as reply:
            return reply.status == 200
    except urllib.error.URLError as exc:
        return None if isinstance(exc.reason, ConnectionRefusedError) else False
    except ConnectionRefusedError:
        return None
    except (OSError, ValueError):
        return False


def healthy(api_url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    """Whether a Prefect API answers its health check."""
    return bool(_health(api_url, timeout_s))


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _find(folder: Path) -> tuple[ServerRecord | None, bool]:
    """The recorded server if its process lives, and whether a stale record was removed."""
    record = _read(folder)
    if record is None:
        return None, False
    if _alive(record.pid):
        return record, False
    (folder / RECORD_FILE).unlink(missing_ok=True)
    return None, True


def find_server(folder: Path) -> tuple[ServerRecord | None, bool]:
    """Like ``_find``, under the lock: (running record or None, stale record removed)."""
    if not (folder / RECORD_FILE).exists():
        return None, False
    with _locked(folder):
        return _find(folder)


def _port(wanted: int | None) -> int:
    """``wanted``, else 4200 when free, else any free loopback port."""
    for port in [wanted] if wanted else [DEFAULT_PORT, 0]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                sock.bind((HOST, port))
            except OSError:
                if wanted:
                    raise ServerError(f"port {wanted} on {HOST} is in use") from None
                continue
            return int(sock.getsockname()[1])
    raise ServerError(f"no free port on {HOST}")  # pragma: no cover - bind(0) does not fail


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or STATE_DIR / "prefect").expanduser().resolve()


def _server_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILE")}
    env.update(
        PREFECT_HOME=str(home),
        # The UI's own API address: Prefect builds it from its default port, not from --port.
        PREFECT_UI_API_URL=env.get("PREFECT_UI_API_URL", f"http://{HOST}:{port}/api"),
        PREFECT_SERVER_ANALYTICS_ENABLED=env.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        DO_NOT_TRACK=env.get("DO_NOT_TRACK", "1"),
    )
    return env


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def _start(folder: Path, port: int | None, timeout_s: float) -> ServerRecord:
    home, log = _prefect_home(), folder / LOG_FILE
    home.mkdir(parents=True, exist_ok=True)
    chosen = _port(port)
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
    command += ["server", "start", "--host", HOST, "--port", str(chosen)]
    with log.open("ab") as out:
        popen = subprocess.Popen(
            command,
            env=_server_env(home, chosen),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; stopped by its process group
        )
    record = ServerRecord(
        pid=popen.pid,
        api_url=f"http://{HOST}:{chosen}/api",
        port=chosen,
        home=str(home),
        log=str(log),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    deadline = time.monotonic() + timeout_s
    while not healthy(record.api_url):
        if popen.poll() is not None:
            raise ServerError(
                f"prefect server exited with code {popen.returncode} before answering "
                f"(log {log}): {_tail(log)}"
            )
        if time.monotonic() > deadline:
            _kill(popen.pid)
            raise ServerError(f"prefect server did not answer within {timeout_s:g}s (log {log})")
        time.sleep(POLL_S)  # waiting on another process's start-up: nothing to be told by
    (folder / RECORD_FILE).write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    return record


def start_server(
    folder: Path, port: int | None = None, timeout_s: float = START_TIMEOUT_S
) -> tuple[ServerRecord, bool]:
    """The running server, or a new one: (record, whether it was started now)."""
    with _locked(folder):
        record, _ = _find(folder)
        if record is not None:
            return record, False
        return _start(folder, port, timeout_s), True


def ensure_server(folder: Path, timeout_s: float = START_TIMEOUT_S) -> tuple[ServerRecord, bool]:
    """A healthy server for a flow command: the recorded one when it answers, else a new one.

    A live process that does not answer its health check (within ``BUSY_GRACE_S``) is stopped
    and replaced.
    """
    with _locked(folder):
        record, _ = _find(folder)
        if record is not None and (healthy(record.api_url) or _answers_soon(record.api_url)):
            return record, False
        if record is not None:
            _kill(record.pid)
            (folder / RECORD_FILE).unlink(missing_ok=True)
        return _start(folder, None, timeout_s), True


def _answers_soon(api_url: str) -> bool:
    """A live server slow to answer (a busy machine) gets ``BUSY_GRACE_S`` before it is
    replaced: stopping a healthy server would cost more than waiting for it."""
    deadline = time.monotonic() + BUSY_GRACE_S
    while time.monotonic() < deadline:
        answer = _health(api_url, 5.0)
        if answer is not False:  # answered, or nothing listens on its port: no use waiting
            return bool(answer)
        time.sleep(POLL_S)  # another process's server: nothing to be told by
    return False


def _kill(pid: int) -> None:
    """SIGTERM to the server's process group, SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)  # another process's exit: there is no event to wait on
        if not _alive(pid):
            return


def stop_server(folder: Path) -> tuple[ServerRecord | None, bool]:
    """Stop the recorded server: (its record or None, whether a stale record was removed)."""
    with _locked(folder):
        record, stale = _find(folder)
        if record is not None:
            _kill(record.pid)
            (folder / RECORD_FILE).unlink(missing_ok=True)
        return record, stale


def configured_api_url() -> str | None:
    """PREFECT_API_URL as Prefect resolves it (environment, .env, profile, prefect.toml)."""
    # Prefect makes its home on import, but not the folders above it (.applyflow/).
    _prefect_home().mkdir(parents=True, exist_ok=True)
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def use_prefect_api(cfg: Settings) -> str | None:
    """Point Prefect at an API before a flow command runs; the URL, or None (temporary).

    A configured API is used as it is. Otherwise, with APPLYFLOW_PREFECT_SERVER=local (the
    default), the local server: reused when healthy, else started (one line on stderr).
    """
    configured = configured_api_url()
    if configured or cfg.prefect_server == "temporary":
        return configured
    record, started = ensure_server(state_dir())
    if started:
        err_console.print(
            f"started a local Prefect server at {record.ui_url} (its UI shows the runs); it keeps "
            "running for the next commands: `applyflow server stop` stops it",
            highlight=False,
            soft_wrap=True,
        )
    os.environ["PREFECT_API_URL"] = record.api_url
    import prefect.context

    prefect.context.refresh_global_settings_context()  # Prefect read the environment on import
    return record.api_url
