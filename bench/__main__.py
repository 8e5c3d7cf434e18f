"""``python -m bench [NAME ...] [--quick]``: run one, several or all benchmarks.

Several benchmarks run one after another, each in its own Python process, so one's Prefect
server, SQLite files and memory never colour the next one's numbers.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

from bench import BENCHMARKS
from bench.report import QUICK_ENV


def _prepare_env(quick: bool) -> None:
    """A private, empty Prefect home and quiet Prefect; never a developer's server or keys."""
    if quick:
        os.environ[QUICK_ENV] = "1"
    if "BENCH_PREFECT_HOME_SET" not in os.environ:
        home = tempfile.mkdtemp(prefix="bench-prefect-")
        # Registered before Prefect starts its server, so it runs after the server's own stop.
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["PREFECT_HOME"] = home
        os.environ["BENCH_PREFECT_HOME_SET"] = "1"
    os.environ.pop("PREFECT_API_URL", None)  # benchmarks measure the temporary (ephemeral) API
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    for name in list(os.environ):
        if name.startswith("APPLYFLOW_") and name != QUICK_ENV:
            del os.environ[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {list(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, short durations")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    _prepare_env(args.quick)
    if len(names) == 1:
        importlib.import_module(f"bench.{names[0]}").main()
        return 0
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        cmd = [sys.executable, "-m", "bench", name, *(["--quick"] if args.quick else [])]
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
