"""The dashboard on what the real pipeline wrote (offline model, real Prefect flow, SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from applyflow.models import Status
from applyflow.settings import LAYERS, get_settings
from applyflow.store.sqlite import SQLiteStore
from dashboard import data

ROOT = Path(__file__).resolve().parents[2]
Opener = Callable[..., AppTest]


@pytest.fixture
def processed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[tuple[SQLiteStore, dict]]:
    """Three sample postings through `process_jobs`; the dashboard reads the same store."""
    from flows.pipeline import process_jobs
    from tests.samples import add_sample_jobs

    url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    env = {
        "APPLYFLOW_STORE_URL": url,
        "APPLYFLOW_OUTPUT_DIR": str(tmp_path / "out"),
        "APPLYFLOW_PROFILE": str(ROOT / "samples" / "profile.md"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(data.NOW_ENV, raising=False)
    get_settings.cache_clear()
    store = SQLiteStore(url)
    try:
        add_sample_jobs(store, 3)
        summary = process_jobs(limit=3)
        yield store, summary
    finally:
        store.close()
        get_settings.cache_clear()


def test_runs_and_jobs_pages_show_the_pipelines_output(
    app_env: None,
    processed: tuple[SQLiteStore, dict],
    open_app: Opener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _ = processed
    monkeypatch.delenv(data.NOW_ENV, raising=False)  # the pipeline ran on the live clock
    (run,) = store.list_runs()
    at = open_app("runs")
    assert at.selectbox(key="run_pick").value == run.id
    grid = at.table[0].value
    assert list(grid.columns) == list(LAYERS) and len(grid) == 3
    assert all(
        str(cell).split(" ", 1)[0] in {"completed", "cached"} for cell in grid.to_numpy().ravel()
    )
    assert at.get("progress")[0].value == 100

    ready = store.list_jobs(status=Status.READY)
    assert ready, "the offline pipeline makes jobs ready"
    job = ready[0]
    at.switch_page("views/jobs.py").run()
    at.selectbox(key="job_pick").set_value(job.id).run()
    assert not at.exception and not at.error
    shown = "\n".join(m.value for m in at.markdown)
    generated = job.outputs["generate"].output
    assert generated["cv_markdown"].strip() in shown
    assert generated["cover_letter_markdown"].strip() in shown
    assert job.outputs["score"].output["rationale"].strip() in shown
    assert {m.label: m.value for m in at.metric}["Fit"] == f"{job.fit}/100"
