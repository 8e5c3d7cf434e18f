"""Data integrity: idempotent upserts, refused transitions, concurrent user and pipeline updates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.errors import InvalidTransition
from applyflow.models import JobPosting, ProgressStatus, Status, utcnow
from applyflow.settings import get_settings
from applyflow.store import Store
from flows.pipeline import process_jobs
from tests.factories import make_output, make_posting
from tests.reliability.conftest import Pipeline

LAYERS = ("extract", "research", "score", "generate")
DEADLINE_S = 60


def _postings(n: int) -> list[JobPosting]:
    return [
        make_posting(company="Integrity Co", description="We need Python and SQL.")
        for _ in range(n)
    ]


def test_upserts_are_idempotent(store: Store):
    postings = _postings(5)
    first = store.upsert_jobs(postings, utcnow())
    stored = {job.id: job for job in store.list_jobs()}
    again = store.upsert_jobs(postings, utcnow() + timedelta(hours=1))
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (5, 0, 0, 5)
    assert {job.id: job for job in store.list_jobs()} == stored  # not even updated_at moved


def test_invalid_transitions_are_refused_and_change_nothing(store: Store):
    [job_id] = store.upsert_jobs(_postings(1), utcnow()).ids
    before = store.get_job(job_id)
    with pytest.raises(InvalidTransition) as refused:
        store.set_status(job_id, Status.OFFER, utcnow())
    assert str(refused.value) == (
        f"job {job_id}: cannot change status from 'new' to 'offer'; "
        "allowed from 'new': applied, discarded, processing"
    )
    assert store.get_job(job_id) == before


def _together(*actions: Callable[[], None]) -> None:
    """Run the actions in threads released at the same instant; re-raise the first error."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], None]) -> None:
        barrier.wait(DEADLINE_S)
        try:
            action()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    assert not errors, errors


def test_concurrent_marks_and_pipeline_updates_lose_neither_change(store: Store):
    ids = store.upsert_jobs(_postings(12), utcnow()).ids
    store.claim_jobs(len(ids), "worker", 600, utcnow())
    for job_id in ids:

        def pipeline_side(job_id: str = job_id) -> None:
            for n, layer in enumerate(LAYERS, start=1):
                store.save_layer_output(job_id, layer, make_output(0.01 * n), fit=50 + n)
            store.release_job(job_id, "worker", Status.READY, utcnow())

        def other_pipeline_side(job_id: str = job_id) -> None:
            store.save_layer_output(job_id, "publish", make_output(0.5))

        def user_side(job_id: str = job_id) -> None:
            store.set_status(job_id, Status.DISCARDED, utcnow())

        _together(pipeline_side, other_pipeline_side, user_side)
        job = store.get_job(job_id)
        assert job.status == Status.DISCARDED  # the user's change, whichever came first
        assert sorted(job.outputs) == sorted([*LAYERS, "publish"])  # every pipeline write
        assert job.cost_usd == pytest.approx(0.1 + 0.5)  # no lost cost increment
        assert job.fit == 54


@pytest.fixture
def cli_store(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("APPLYFLOW_STORE_URL", sqlite_store.url)
    get_settings.cache_clear()
    yield sqlite_store
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("status_before", "target", "message"),
    [
        (Status.NEW, "offer", "cannot change status from 'new' to 'offer'; allowed from 'new': "),
        (Status.PROCESSING, "applied", "cannot change status from 'processing' to 'applied'"),
        (Status.NEW, "hired", "unknown status 'hired'; valid statuses: new, processing, ready"),
    ],
)
def test_mark_refuses_invalid_changes_clearly(
    cli_store: Store, status_before: Status, target: str, message: str
):
    [job_id] = cli_store.upsert_jobs(_postings(1), utcnow()).ids
    if status_before != Status.NEW:
        cli_store.set_status(job_id, status_before, utcnow())
    before = cli_store.get_job(job_id)
    result = CliRunner().invoke(app, ["mark", job_id, target])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert cli_store.get_job(job_id) == before


def test_mark_while_a_layer_runs_keeps_the_mark_and_the_layer_output(pipeline: Pipeline):
    [job_id] = pipeline.add_jobs(1)
    title = pipeline.title(job_id)
    pipeline.fake.on(lambda r: r.title == title and r.layer == "score", "gate", times=1)
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(summary=process_jobs(limit=5)))
    worker.start()
    try:
        assert pipeline.fake.state.at_gate.wait(DEADLINE_S)
        marked = CliRunner().invoke(app, ["mark", job_id, "discarded"])
        assert marked.exit_code == 0, marked.output
    finally:
        pipeline.fake.open_gate()
        worker.join(DEADLINE_S)
    [outcome] = out["summary"].jobs
    assert (outcome.status, outcome.error) == ("discarded", "claim lost")
    job = pipeline.store.get_job(job_id)
    assert job.status == Status.DISCARDED and job.claimed_by is None
    assert sorted(job.outputs) == ["extract", "research", "score"]  # the running layer's work
    assert job.fit is not None
    rows = pipeline.store.list_progress(out["summary"].run_id)
    progress = {r.layer: r.status for r in rows}
    assert progress["score"] == ProgressStatus.COMPLETED
    assert progress["generate"] == progress["publish"] == ProgressStatus.SKIPPED
    assert pipeline.store.usage_total().calls == len(pipeline.fake.billed()) == 3
