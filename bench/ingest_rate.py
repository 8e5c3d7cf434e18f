"""ingest_rate: 10,000 postings from JSONL, and one job board of each kind on loopback; first
ingest and an unchanged re-ingest.

The whole ``ingest`` flow is timed on Prefect's temporary API (started and warmed up before
timing), then its parts are timed directly: reading and normalising the file or each board
(``read_source``: for a board, its HTTP requests through the rate guard too), and the store's
``upsert_jobs``. The boards (``bench.boards``) serve the postings in each API's shape; their
request limits are raised, since loopback has no provider-side quota to respect.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from applyflow.models import utcnow
from applyflow.settings import get_settings
from applyflow.store.sqlite import SQLiteStore
from bench.boards import BOARD_SOURCES, requests_per_board, serve_boards
from bench.postings import posting_records, write_jsonl
from bench.report import bench_settings, median, quick_mode, report

__all__ = ["main", "time_boards", "time_flow", "time_parts"]

NAME = "ingest_rate"
# Loopback boards: no provider quota, so the rate guard is checked but never waits.
LOOPBACK_LIMITS = {source.split(":")[0]: "100000/second" for source in BOARD_SOURCES}


def _use_store(folder: Path) -> str:
    """Point the process settings (read by the flow) at a fresh store under ``folder``."""
    url = f"sqlite:///{folder / 'applyflow.db'}"
    os.environ["APPLYFLOW_STORE_URL"] = url
    os.environ["APPLYFLOW_RATE_LIMITS"] = json.dumps(LOOPBACK_LIMITS)
    get_settings.cache_clear()
    return url


def time_flow(
    sources: Path | list[str], folder: Path, base_url: str | None = None
) -> dict[str, Any]:
    """Seconds and reports of the ingest flow: first ingest, then the same sources again."""
    from flows.ingest import ingest

    wanted = [str(sources)] if isinstance(sources, Path) else sources
    _use_store(folder)
    start = time.perf_counter()
    first = ingest(sources=wanted, base_url=base_url)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    again = ingest(sources=wanted, base_url=base_url)
    again_s = time.perf_counter() - start
    return {"first_s": first_s, "first": first, "again_s": again_s, "again": again}


def time_boards(base_url: str, folder: Path) -> dict[str, float]:
    """Seconds to read and normalise each board (its requests included), by SOURCE."""
    from tasks.ingest import read_source

    settings = bench_settings(folder, rate_limits=LOOPBACK_LIMITS)
    seconds: dict[str, float] = {}
    for source in BOARD_SOURCES:
        start = time.perf_counter()
        batch = read_source(source, settings=settings, base_url=base_url)
        seconds[source] = time.perf_counter() - start
        if batch.rejections or not batch.postings:
            raise RuntimeError(f"{source}: {len(batch.rejections)} rejections, nothing read")
    return seconds


def time_parts(source: Path, folder: Path) -> dict[str, Any]:
    """Seconds to read and normalise the file, and to upsert it into a fresh store twice."""
    from tasks.ingest import read_source

    settings = bench_settings(folder)
    start = time.perf_counter()
    batch = read_source(str(source), settings=settings)
    read_s = time.perf_counter() - start
    store = SQLiteStore(settings.store_url)
    try:
        start = time.perf_counter()
        first = store.upsert_jobs(batch.postings, utcnow())
        upsert_s = time.perf_counter() - start
        start = time.perf_counter()
        again = store.upsert_jobs(batch.postings, utcnow())
        reupsert_s = time.perf_counter() - start
    finally:
        store.close()
    return {"postings": len(batch.postings), "rejected": len(batch.rejections),
            "read_s": read_s, "upsert_s": upsert_s, "reupsert_s": reupsert_s,
            "inserted": first.inserted, "unchanged_again": again.unchanged}  # fmt: skip


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def main() -> dict[str, Any]:
    n, per_board, rounds = (1_000, 50, 2) if quick_mode() else (10_000, 500, 3)
    flows, parts, board_flows, board_reads = [], [], [], []
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        serve_boards(per_board) as boards,
    ):
        root = Path(tmp)
        source = write_jsonl(root / "postings.jsonl", posting_records(n))
        warm = write_jsonl(root / "warm.jsonl", posting_records(5, seed=99))
        time_flow(warm, root / "warm")  # starts Prefect's temporary API before any timing
        for i in range(rounds):
            flows.append(time_flow(source, root / f"flow{i}"))
            parts.append(time_parts(source, root / f"parts{i}"))
            board_flows.append(time_flow(BOARD_SOURCES, root / f"boards{i}", boards))
            board_reads.append(time_boards(boards, root / f"reads{i}"))
    first_s = median([f["first_s"] for f in flows])
    again_s = median([f["again_s"] for f in flows])
    read_s = median([p["read_s"] for p in parts])
    upsert_s = median([p["upsert_s"] for p in parts])
    reupsert_s = median([p["reupsert_s"] for p in parts])
    rows = [
        {"measure": "first ingest (flow)", "seconds": round(first_s, 3),
         "postings_per_s": _rate(n, first_s)},
        {"measure": "re-ingest, unchanged (flow)", "seconds": round(again_s, 3),
         "postings_per_s": _rate(n, again_s)},
        {"measure": "  read + normalise JSONL", "seconds": round(read_s, 3),
         "postings_per_s": _rate(n, read_s)},
        {"measure": "  upsert, new", "seconds": round(upsert_s, 3),
         "postings_per_s": _rate(n, upsert_s)},
        {"measure": "  upsert, unchanged", "seconds": round(reupsert_s, 3),
         "postings_per_s": _rate(n, reupsert_s)},
    ]  # fmt: skip
    boards_n = per_board * len(BOARD_SOURCES)
    boards_first = median([f["first_s"] for f in board_flows])
    boards_again = median([f["again_s"] for f in board_flows])
    rows += [
        {"measure": f"six boards on loopback, first ingest (flow, {boards_n:,} postings)",
         "seconds": round(boards_first, 3), "postings_per_s": _rate(boards_n, boards_first)},
        {"measure": "six boards, re-ingest unchanged (flow)", "seconds": round(boards_again, 3),
         "postings_per_s": _rate(boards_n, boards_again)},
    ]  # fmt: skip
    requests = requests_per_board(per_board)
    for board in BOARD_SOURCES:
        read_s = median([r[board] for r in board_reads])
        label = f"  read {board} ({requests[board]} requests)"
        rate = _rate(per_board, read_s)
        rows.append({"measure": label, "seconds": round(read_s, 3), "postings_per_s": rate})
    last, last_boards = flows[-1], board_flows[-1]
    return report(
        NAME,
        f"Ingest rate: {n:,} postings from JSONL, {per_board} per board on six loopback boards "
        f"(median of {rounds} rounds)",
        rows,
        params={
            "postings": n,
            "rounds": rounds,
            "store": "sqlite",
            "html_share": 0.3,
            "postings_per_board": per_board,
            "boards": BOARD_SOURCES,
        },  # fmt: skip
        summary={
            "first_inserted": last["first"].inserted,
            "again_unchanged": last["again"].unchanged,
            "again_inserted": last["again"].inserted,
            "rejected": last["first"].rejected,
            "reingest_speedup": round(first_s / again_s, 2),
            "boards_inserted": last_boards["first"].inserted,
            "boards_linked": last_boards["first"].linked,
            "boards_rejected": last_boards["first"].rejected,
            "boards_again_unchanged": last_boards["again"].unchanged,
        },
        details={"note": "measured while other helpers ran their test suites on the same 2 cores"},
    )


if __name__ == "__main__":
    main()
