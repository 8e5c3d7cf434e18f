"""How long the flow commands' preflight takes (issue #11: "well under a second").

Three measures, medians: the preflight itself in a warm process (the sample profile, a paid
model with a key, its price and a forecast model's); the same in a fresh process, imports
included; and whole `applyflow` processes: `run --help` (interpreter and CLI start-up, the floor
of any command) beside `run` with a missing profile, which exits 2 after the preflight, in wall
and CPU time (the machine is shared: CPU time is the steadier of the two).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import median, percentile, quick_mode, report

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "samples" / "profile.md"
APPLYFLOW = str(Path(sys.executable).parent / "applyflow")
ENV = {"APPLYFLOW_MODEL": "openai:gpt-4o-mini", "APPLYFLOW_API_KEY": "sk-bench"}
FRESH = """
import time
started = time.perf_counter()
from pathlib import Path
from applyflow.preflight import models_called, preflight
from applyflow.settings import load_settings
from guards.pricing import run_price_problems
cfg = load_settings(_env_file=None)
result = preflight(cfg, profile=Path({profile!r}), calls=models_called(cfg, None),
                   prices=lambda: run_price_problems(cfg, None, "openai:gpt-4o"))
assert result.ok, result
print(time.perf_counter() - started)
"""


def preflight_once() -> float:
    """One preflight in this process, seconds (settings from ENV)."""
    from applyflow.preflight import models_called, preflight
    from applyflow.settings import load_settings
    from guards.pricing import run_price_problems

    cfg = load_settings(_env_file=None, **{k.removeprefix("APPLYFLOW_").lower(): v
                                           for k, v in ENV.items()})  # fmt: skip
    started = time.perf_counter()
    result = preflight(
        cfg,
        profile=PROFILE,
        calls=models_called(cfg, None),
        prices=lambda: run_price_problems(cfg, None, "openai:gpt-4o"),
    )
    elapsed = time.perf_counter() - started
    assert result.ok, result
    return elapsed


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _process(args: list[str], env: dict[str, str], code: int) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one process. On a shared machine the CPU time is
    the steadier measure: the wall time includes waiting for a core."""
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return elapsed, cpu, done.stdout


def _row(measure: str, runs: list[tuple[float, float]]) -> dict[str, Any]:
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    return {
        "measure": measure,
        "runs": len(runs),
        "median_s": round(median(wall), 4),
        "p95_s": round(percentile(wall, 95), 4),
        "median_cpu_s": round(median(cpu), 4) if any(cpu) else None,
    }


def main() -> None:
    warm_n, proc_n = (5, 2) if quick_mode() else (51, 7)
    os.environ.update(ENV)
    preflight_once()  # loads genai-prices' data once
    warm = [(preflight_once(), 0.0) for _ in range(warm_n)]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLYFLOW_")}
        env |= ENV | {"APPLYFLOW_STORE_URL": f"sqlite:///{tmp}/applyflow.db"}
        script = [sys.executable, "-c", FRESH.format(profile=str(PROFILE))]
        fresh = [(float(_process(script, env, 0)[2]), 0.0) for _ in range(proc_n)]
        help_s = [_process([APPLYFLOW, "run", "--help"], env, 0)[:2] for _ in range(proc_n)]
        missing = env | {"APPLYFLOW_PROFILE": f"{tmp}/missing.md"}
        refused = [_process([APPLYFLOW, "run"], missing, 2)[:2] for _ in range(proc_n)]
    rows = [
        _row("preflight, warm process", warm),
        _row("preflight, fresh process (imports included)", fresh),
        _row("`applyflow run --help` (process start-up)", help_s),
        _row("`applyflow run`, missing profile -> exit 2", refused),
    ]
    report(
        "preflight",
        "Preflight of the flow commands: in process and whole `applyflow` processes",
        rows,
        params={"model": ENV["APPLYFLOW_MODEL"], "profile": "samples/profile.md"},
        summary={
            "CPU beyond start-up, s": round(
                median([c for _, c in refused]) - median([c for _, c in help_s]), 3
            ),
            "load average (1 min)": round(os.getloadavg()[0], 2),
            "target": "well under 1 s, before Prefect loads",
        },
    )


if __name__ == "__main__":
    main()
