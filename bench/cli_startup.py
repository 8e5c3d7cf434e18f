"""cli_startup: whole-process seconds of `applyflow ingest FILE` and `applyflow run --limit 1`
with no Prefect API configured, before and after the local server.

cold: ``APPLYFLOW_PREFECT_SERVER=temporary``, Prefect's temporary server started and stopped by
every command (the behaviour before). warm: the default, one local Prefect server
(`applyflow server start`) that every command reuses. Each mode has its own folder (store,
``.applyflow/prefect``), warmed by one untimed ingest that also fills the queue; then the
commands alternate cold and warm, round by round, so load on the (shared) machine hits both.
Also timed once: `applyflow server start` in a fresh folder, and the first flow command there
(which starts the server itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import median, quick_mode, report

__all__ = ["main", "time_command"]

NAME = "cli_startup"
ROOT = Path(__file__).resolve().parents[1]
APPLYFLOW = Path(sys.executable).with_name("applyflow")
POSTINGS = ROOT / "samples" / "postings.json"
COMMANDS = {
    "ingest FILE": ["ingest", str(POSTINGS)],
    "run --limit 1": ["run", "--limit", "1"],
}


def _env(folder: Path, mode: str) -> dict[str, str]:
    """A user's shell in ``folder``: no Prefect API, no Prefect or applyflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLYFLOW_", "PREFECT_"))}
    env.pop("DO_NOT_TRACK", None)  # the CLI's own defaults are part of what is measured
    env.update(
        APPLYFLOW_STORE_URL=f"sqlite:///{folder / 'store.db'}",
        APPLYFLOW_OUTPUT_DIR=str(folder / "out"),
        APPLYFLOW_PROFILE=str(ROOT / "samples" / "profile.md"),
        APPLYFLOW_PREFECT_SERVER=mode,
    )
    return env


def time_command(folder: Path, mode: str, args: list[str]) -> tuple[float, str]:
    """Seconds one `applyflow ARGS` process takes from ``folder``, and its stderr."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(APPLYFLOW), *args], cwd=folder, env=_env(folder, mode), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"applyflow {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return seconds, done.stderr


def _stop_server(folder: Path) -> None:
    """`applyflow server stop`; should that command fail, the recorded server's process group
    is sent SIGTERM all the same, so no server outlives the benchmark."""
    subprocess.run(
        [str(APPLYFLOW), "server", "stop"], cwd=folder, env=_env(folder, "local"),
        capture_output=True, check=False,
    )  # fmt: skip
    try:
        pid = int(json.loads((folder / ".applyflow" / "prefect-server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return  # stopped (the record is gone) or never started
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)


def _rounds(folders: dict[str, Path], rounds: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {c: {m: [] for m in folders} for c in COMMANDS}
    for index in range(rounds):
        modes = list(folders) if index % 2 == 0 else list(reversed(folders))
        for command, args in COMMANDS.items():
            for mode in modes:
                seconds, _ = time_command(folders[mode], mode, args)
                times[command][mode].append(round(seconds, 2))
                print(f"round {index + 1} {command} {mode}: {seconds:.1f} s", flush=True)
    return times


def main() -> int:
    rounds = 2 if quick_mode() else 5
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        folders = {"temporary": Path(tmp, "cold"), "local": Path(tmp, "warm")}
        first = Path(tmp, "first")
        for folder in [*folders.values(), first]:
            folder.mkdir()
        try:
            server_start_s, _ = time_command(first, "local", ["server", "start"])
            time_command(first, "local", ["server", "stop"])
            first_use_s, note = time_command(first, "local", COMMANDS["ingest FILE"])
            time_command(first, "local", ["server", "stop"])
            for mode, folder in folders.items():  # migrations, the queue for `run --limit 1`
                time_command(folder, mode, ["ingest", str(ROOT / "samples")])
            times = _rounds(folders, rounds)
        finally:
            for folder in (first, folders["local"]):
                _stop_server(folder)
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for command, by_mode in times.items():
        for mode, label in (("temporary", "cold (temporary server)"), ("local", "warm (reused)")):
            values = by_mode[mode]
            rows.append({"command": command, "mode": label, "runs": len(values),
                         "median_s": median(values), "min_s": min(values),
                         "max_s": max(values)})  # fmt: skip
        ratio = median(by_mode["temporary"]) / median(by_mode["local"])
        summary[f"{command}: cold / warm median"] = round(ratio, 2)
    summary["`applyflow server start` (fresh folder), s"] = round(server_start_s, 2)
    summary["first `ingest FILE` that starts the server, s"] = round(first_use_s, 2)
    report(
        NAME,
        "CLI start-up: whole-process seconds, temporary Prefect server vs the reused local one",
        rows,
        params={"rounds": rounds, "postings": POSTINGS.name, "model": "offline"},
        summary=summary,
        details={
            "seconds": times,
            "first_use_stderr": note.strip(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "note": "machine shared with other processes; cold and warm alternate per round",
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
