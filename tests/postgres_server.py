"""A throwaway PostgreSQL cluster from Debian's postgresql-15, for the Prefect-on-PostgreSQL test.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user
the Debian package creates (``runuser``), in a temp dir that user owns; as anyone else they run
as that user. The cluster listens on 127.0.0.1 at a free port with trust authentication (it
lives for one test session and holds nothing else), fsync off, and is stopped and deleted when
the block ends.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.debian import INITDB, PG_BIN, require
from tests.loopback import free_port

DB_USER = DB_NAME = "prefect"
COMMAND_S = 120.0


def _as_cluster_owner() -> list[str]:
    """The command prefix that runs a PostgreSQL tool as a user it accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root and there is no 'postgres' user; install Debian's postgresql-15"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def _run(prefix: list[str], *args: str) -> None:
    done = subprocess.run(
        [*prefix, *args], capture_output=True, text=True, timeout=COMMAND_S, cwd="/"
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:2])} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yield ``postgresql+asyncpg://prefect@127.0.0.1:PORT/prefect`` of a fresh cluster."""
    require(INITDB, "postgresql-15")
    prefix = _as_cluster_owner()
    # /tmp itself, not pytest's tmp dirs: those are private to the user running the tests.
    root = Path(tempfile.mkdtemp(prefix="applyflow-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if prefix:
        owner = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    try:
        _run(prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", DB_USER,
             "--auth=trust", "--encoding=UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log"),
             "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        try:
            _run(prefix, str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                 "-U", DB_USER, DB_NAME)  # fmt: skip
            yield f"postgresql+asyncpg://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
        finally:
            _run(prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
