"""`applyflow demo` on a fresh store, two checkouts side by side (not part of `make bench`).

    python bench/demo_side_by_side.py BASE_CHECKOUT NEW_CHECKOUT [--rounds 5] [--out FILE]

Each checkout needs its own `.venv` (`make setup`). Every round runs the demo once in each
checkout, in alternating order, each time with a new store, output folder and PREFECT_HOME
(so Prefect's database is created afresh, as on a first `make demo`), and times the whole
process. The machine is shared, so compare the medians and their ratio, measured in the same
minutes; never the absolute times of different days.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def _demo(checkout: Path) -> tuple[float, int]:
    """Seconds one `applyflow demo` takes, and how many files it published."""
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLYFLOW_", "PREFECT_"))}
        env |= {
            "APPLYFLOW_STORE_URL": f"sqlite:///{tmp}/store.db",
            "APPLYFLOW_OUTPUT_DIR": f"{tmp}/out",
            "PREFECT_HOME": f"{tmp}/prefect",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "APPLYFLOW_PREFECT_SERVER": "temporary",  # each demo pays its own server, as before
        }
        started = time.perf_counter()
        subprocess.run(
            [str(checkout / ".venv" / "bin" / "applyflow"), "demo"],
            cwd=checkout, env=env, check=True, capture_output=True,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        files = sum(1 for p in Path(tmp, "out").rglob("*") if p.is_file())
    return seconds, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "demo_side_by_side.json"
    )
    args = parser.parse_args(argv)
    runs: dict[str, list[float]] = {"base": [], "new": []}
    files: dict[str, int] = {}
    for round_ in range(args.rounds):
        order = ["base", "new"] if round_ % 2 == 0 else ["new", "base"]
        for name in order:
            seconds, count = _demo(getattr(args, name))
            runs[name].append(round(seconds, 2))
            files[name] = count
            print(f"round {round_ + 1} {name}: {seconds:.1f} s, {count} files", flush=True)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    result = {
        "benchmark": "demo_side_by_side",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },  # fmt: skip
        "checkouts": {"base": str(args.base), "new": str(args.new)},
        "rounds": args.rounds,
        "seconds": runs,
        "median_s": medians,
        "files_published": files,
        "ratio_new_to_base": round(medians["new"] / medians["base"], 3),
        "load_average": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_s", "ratio_new_to_base", "files_published")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
