"""What every benchmark shares: the machine description, statistics, settings, and the report
(a Rich table on the terminal plus ``bench/results/<name>.json``)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "RESULTS_DIR",
    "bench_settings",
    "machine",
    "median",
    "percentile",
    "quick_mode",
    "report",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_RESULTS_DIR = Path(tempfile.gettempdir()) / "applyflow-bench-quick"
QUICK_ENV = "APPLYFLOW_BENCH_QUICK"


def quick_mode() -> bool:
    """True for a shortened smoke run (``python -m bench --quick`` sets the variable)."""
    return os.environ.get(QUICK_ENV, "").lower() in ("1", "true", "yes")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The machine a result was measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return float(ordered[rank - 1])


def bench_settings(folder: Path, **overrides: Any) -> Any:
    """Settings for a benchmark: a store under ``folder``, no ``.env`` file, offline model."""
    from applyflow.settings import load_settings

    values: dict[str, Any] = {
        "store_url": f"sqlite:///{folder / 'applyflow.db'}",
        "output_dir": folder / "output",
        "model": "offline",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "" if value is None else str(value)


def report(
    name: str,
    title: str,
    rows: list[dict[str, Any]],
    *,
    params: dict[str, Any],
    summary: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Print ``rows`` and ``summary``; write them with ``details`` (JSON only) to
    ``bench/results/<name>.json``. Returns the written document."""
    table = Table(title=title, title_justify="left")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for column in columns:
        text = any(isinstance(row.get(column), str) for row in rows)
        table.add_column(column, justify="left" if text else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console = Console(file=sys.stdout, width=160)
    console.print(table)
    for key, value in (summary or {}).items():
        console.print(f"  {key}: {_cell(value)}")
    doc = {
        "name": name,
        "title": title,
        "quick": quick_mode(),
        "machine": machine(),
        "params": params,
        "results": rows,
        "summary": summary or {},
        "details": details or {},
    }
    if write:
        # Quick (smoke) results never replace the recorded ones.
        folder = QUICK_RESULTS_DIR if quick_mode() else RESULTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json"
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"  written: {path}")
    return doc
