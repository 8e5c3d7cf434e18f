"""Debian's redis-server on a free loopback port in a temp dir, for tests (the ``redis_url``
session fixture in tests/conftest.py starts one per session; any test may use it).

Nothing is persisted (no RDB snapshots, no AOF), it listens on 127.0.0.1 only, it stays our
child process, and it is stopped (SIGTERM, then SIGKILL) when the block ends. ``.ci/run``
installs the package on a fresh machine.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.debian import REDIS_SERVER, require
from tests.loopback import free_port

START_S = 10.0
STOP_S = 5.0


def _command(binary: str, port: int, workdir: Path) -> list[str]:
    return [
        binary,
        "--port", str(port),  # --port 0 would turn TCP off: a free port is picked instead
        "--bind", "127.0.0.1",
        "--save", "",  # no RDB snapshots
        "--appendonly", "no",  # no AOF
        "--dir", str(workdir),  # anything it writes stays in the temp dir
        "--daemonize", "no",  # stays our child, so we can stop it
        "--logfile", str(workdir / "redis.log"),
        "--databases", "1",
    ]  # fmt: skip


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` once the server answers PING."""
    binary = str(require(REDIS_SERVER, "redis-server"))
    for _attempt in range(3):  # the port was taken between free_port() and its bind: retry
        port = free_port()
        proc = subprocess.Popen(
            _command(binary, port, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
        try:
            if _answers(proc, client):
                yield f"redis://127.0.0.1:{port}/0"
                return
        finally:
            client.close()
            _stop(proc)
    log = workdir / "redis.log"
    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
    raise RuntimeError(f"redis-server would not start; last log lines:\n{tail}")


def _answers(proc: subprocess.Popen, client: redis.Redis) -> bool:
    """Poll PING until it answers (True), the server exits or START_S passes (False)."""
    deadline = time.monotonic() + START_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if client.ping():
                return True
        except redis.ConnectionError:
            time.sleep(0.02)  # the poll interval while it starts
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
