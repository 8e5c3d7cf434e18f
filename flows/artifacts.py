"""What a pipeline run shows in the Prefect UI: its progress artifact and its summary artifact.

``ProgressBoard`` keeps each job's layer states in memory and a background thread writes them
to the ``process-jobs-progress`` artifact: the percent of layers finished and, as its
description, a Markdown table (job x layer). State changes only record and wake the writer,
which coalesces them (at most one write per ``interval_s``), so the layer tasks never wait on
the Prefect API; ``close`` writes the final state.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterable

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from applyflow.models import ProgressRecord, ProgressStatus
from applyflow.money import format_usd
from flows.results import RunSummary

__all__ = [
    "PROGRESS_KEY",
    "SUMMARY_KEY",
    "ProgressBoard",
    "progress_markdown",
    "publish_summary",
    "start_progress",
    "summary_markdown",
]

log = logging.getLogger(__name__)

PROGRESS_KEY = "process-jobs-progress"
SUMMARY_KEY = "process-jobs-summary"
WRITE_INTERVAL_S = 0.5
_CELLS = {
    ProgressStatus.PENDING: "· pending",
    ProgressStatus.RUNNING: "▶ running",
    ProgressStatus.COMPLETED: "✓ done",
    ProgressStatus.CACHED: "= cached",
    ProgressStatus.FAILED: "✗ failed",
    ProgressStatus.SKIPPED: "– skipped",
}
_UNFINISHED = (ProgressStatus.PENDING, ProgressStatus.RUNNING)

Writer = Callable[[float, str], None]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def progress_markdown(
    run_id: str, layers: Iterable[str], names: dict[str, str], states: dict[str, dict[str, str]]
) -> str:
    """The run's layer states as Markdown: a count line, then one table row per job."""
    layers = list(layers)
    cells = [s for by_layer in states.values() for s in by_layer.values()]
    done = sum(1 for s in cells if s not in _UNFINISHED)
    total = len(states) * len(layers)
    lines = [f"**Run `{run_id}`**: {done} of {total} layers finished, {len(states)} job(s)", ""]
    if states:
        lines.append("| job | " + " | ".join(layers) + " |")
        lines.append("|---" * (len(layers) + 1) + "|")
        for job_id, by_layer in states.items():
            marks = [_CELLS[ProgressStatus(by_layer.get(layer, "pending"))] for layer in layers]
            label = _cell(names.get(job_id, job_id))
            lines.append(f"| {label} `{job_id}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


class ProgressBoard:
    """Layer states of one run, written to Prefect by a background thread (see module doc)."""

    def __init__(
        self,
        run_id: str,
        layers: Iterable[str],
        names: dict[str, str],
        write: Writer,
        *,
        interval_s: float = WRITE_INTERVAL_S,
    ) -> None:
        self.run_id, self.layers, self.names = run_id, list(layers), dict(names)
        self._states: dict[str, dict[str, str]] = {
            job_id: {layer: ProgressStatus.PENDING.value for layer in self.layers}
            for job_id in names
        }
        self._write, self._interval_s = write, interval_s
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._closing = threading.Event()
        self._failed = False
        self.writes = 0
        # The writer sees this thread's context (Prefect's settings and client context).
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name=f"progress-{run_id}", daemon=True
        )
        self._thread.start()

    def update(self, record: ProgressRecord) -> None:
        """Record one layer's state and wake the writer; never blocks on the API."""
        with self._lock:
            by_layer = self._states.setdefault(
                record.job_id, {layer: ProgressStatus.PENDING.value for layer in self.layers}
            )
            by_layer[record.layer] = ProgressStatus(record.status).value
        self._changed.set()

    def snapshot(self) -> tuple[float, str]:
        """(percent of layers finished, the Markdown table) as of now."""
        with self._lock:
            states = {job: dict(layers) for job, layers in self._states.items()}
        cells = [s for by_layer in states.values() for s in by_layer.values()]
        done = sum(1 for s in cells if s not in _UNFINISHED)
        percent = round(100.0 * done / len(cells), 1) if cells else 100.0
        return percent, progress_markdown(self.run_id, self.layers, self.names, states)

    def _flush(self) -> None:
        percent, markdown = self.snapshot()
        try:
            self._write(percent, markdown)
            self.writes += 1
        except Exception:  # progress is for watching; it must never fail the run
            if not self._failed:
                self._failed = True
                log.warning("could not update the progress artifact of run %s", self.run_id)

    def _run(self) -> None:
        while True:
            self._changed.wait()
            self._changed.clear()
            if self._closing.is_set():
                return
            self._flush()
            # Coalesce: changes during the pause are written together by the next flush.
            self._closing.wait(self._interval_s)

    def close(self) -> None:
        """Stop the writer and write the final state (always, even with nothing new)."""
        self._closing.set()
        self._changed.set()
        self._thread.join()
        self._flush()


def start_progress(run_id: str, layers: Iterable[str], names: dict[str, str]) -> ProgressBoard:
    """The run's progress artifact (created now, in the flow run) and its board."""
    layers = list(layers)
    states = {job_id: {layer: ProgressStatus.PENDING.value for layer in layers} for job_id in names}
    artifact_id = create_progress_artifact(
        progress=0.0 if names else 100.0,
        key=PROGRESS_KEY,
        description=progress_markdown(run_id, layers, names, states),
    )

    def write(percent: float, markdown: str) -> None:
        update_progress_artifact(artifact_id, percent, description=markdown)

    return ProgressBoard(run_id, layers, names, write)


def summary_markdown(summary: RunSummary) -> str:
    """One readable paragraph: outcome counts, calls, spend, forecast, why it stopped."""
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts.items() if n)
    text = (
        f"**Run `{summary.run_id}`** {summary.status.value}: {counts or 'no jobs were queued'}. "
        f"{summary.calls} model call(s) on `{summary.model}`, "
        f"{summary.input_tokens:,} + {summary.output_tokens:,} tokens, "
        f"spend **{format_usd(summary.spend_usd)}**."
    )
    if summary.price_as and summary.forecast_usd is not None:
        text += f" Forecast on `{summary.price_as}`: {format_usd(summary.forecast_usd)}."
    if summary.stop_reason:
        text += f"\n\nStopped early: {_cell(summary.stop_reason)}"
    return text


def publish_summary(summary: RunSummary) -> None:
    """The ``process-jobs-summary`` table artifact: one row per job, money as money."""
    rows = [
        {"job": o.id, "title": o.title, "company": o.company,
         "fit": "" if o.fit is None else o.fit, "status": o.status.value,
         "cost": format_usd(o.cost_usd), "error": o.error or ""}
        for o in summary.jobs
    ]  # fmt: skip
    empty = {"job": "", "title": "no jobs were queued", "company": "", "fit": "", "status": "",
             "cost": format_usd(0.0), "error": ""}  # fmt: skip
    create_table_artifact(
        table=rows or [empty], key=SUMMARY_KEY, description=summary_markdown(summary)
    )
