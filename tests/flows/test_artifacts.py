"""ProgressBoard: layer states recorded without waiting on the writer, coalesced, the final
state always written; the Markdown it writes."""

from __future__ import annotations

import logging
import threading

import pytest

from applyflow.models import ProgressRecord, ProgressStatus, utcnow
from flows.artifacts import ProgressBoard, progress_markdown

LAYERS = ("extract", "research", "score", "generate", "publish")
NAMES = {f"job{i}": f"Title {i} @ Company | {i}" for i in range(10)}


def _record(job_id: str, layer: str, status: ProgressStatus) -> ProgressRecord:
    return ProgressRecord(
        run_id="run1", job_id=job_id, layer=layer, status=status, updated_at=utcnow()
    )


class _BlockingWriter:
    """Blocks in its first write until released; records every write."""

    def __init__(self) -> None:
        self.inside, self.release = threading.Event(), threading.Event()
        self.written: list[tuple[float, str]] = []

    def __call__(self, percent: float, markdown: str) -> None:
        self.inside.set()
        assert self.release.wait(30), "the test never released the writer"
        self.written.append((percent, markdown))


def test_updates_never_wait_for_the_writer_and_the_last_state_is_written() -> None:
    writer = _BlockingWriter()
    board = ProgressBoard("run1", LAYERS, NAMES, writer, interval_s=0.0)
    board.update(_record("job0", "extract", ProgressStatus.RUNNING))
    assert writer.inside.wait(30)  # the writer thread is now stuck inside the API call
    updates = 1
    for job_id in NAMES:
        for layer in LAYERS:
            board.update(_record(job_id, layer, ProgressStatus.COMPLETED))
            updates += 1
    assert not writer.written  # every update above returned while the write was blocked
    writer.release.set()
    board.close()
    assert writer.written[-1] == board.snapshot()
    assert writer.written[-1][0] == 100.0
    assert len(writer.written) <= 3 < updates  # coalesced: not one write per state change


def test_close_writes_once_even_without_changes_and_a_failing_writer_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []

    def failing(percent: float, markdown: str) -> None:
        calls.append(percent)
        raise ConnectionError("Prefect API down")

    board = ProgressBoard("run1", LAYERS, {"job0": "A @ B"}, failing, interval_s=0.0)
    with caplog.at_level(logging.WARNING, logger="flows.artifacts"):
        board.close()
    assert calls == [0.0]
    assert "could not update the progress artifact of run run1" in caplog.text


def test_markdown_table_escapes_job_names() -> None:
    states = {"job0": dict.fromkeys(LAYERS, "completed") | {"publish": "failed"}}
    text = progress_markdown("run1", LAYERS, {"job0": "C|D @ E"}, states)
    assert text.splitlines() == [
        "**Run `run1`**: 5 of 5 layers finished, 1 job(s)",
        "",
        "| job | extract | research | score | generate | publish |",
        "|---|---|---|---|---|---|",
        "| C\\|D @ E `job0` | ✓ done | ✓ done | ✓ done | ✓ done | ✗ failed |",
    ]
