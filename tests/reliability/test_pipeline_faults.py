"""process_jobs on a flaky provider: failed layers fail their job only; a rerun finishes them."""

from __future__ import annotations

from collections import Counter

from applyflow.models import ProgressStatus, Status, utcnow
from flows.pipeline import process_jobs
from tests.reliability.conftest import Pipeline

MODEL_LAYERS = ("extract", "research", "score", "generate")


def _requests(pipeline: Pipeline, title: str) -> Counter:
    return Counter(r.layer for r in pipeline.fake.requests if r.title == title)


def _assert_ledger_matches_provider(pipeline: Pipeline) -> None:
    """One usage row per billed response, never two; nothing left reserved."""
    billed = pipeline.fake.billed()
    usage = pipeline.store.usage_total()
    assert usage.calls == len(billed)
    assert usage.input_tokens == sum(r.usage["prompt_tokens"] for r in billed)
    assert usage.output_tokens == sum(r.usage["completion_tokens"] for r in billed)
    assert pipeline.store.open_reservations(utcnow()) == 0


def test_failed_layers_fail_their_jobs_others_complete_and_a_rerun_finishes(pipeline: Pipeline):
    # No fit gate: every job wants every layer. The text path: under strict structured output
    # the provider decodes into the schema, so no reply is off-schema (test_structured_output).
    pipeline.set(model_max_retries=1, min_fit=0, structured_output=False)
    down, garbled, flaky, fine = pipeline.add_jobs(4)
    titles = {job: pipeline.title(job) for job in (down, garbled, flaky, fine)}
    fake = pipeline.fake
    # down: the provider errors on every score call; garbled: extract replies off-schema;
    # flaky: one of each transient fault, absorbed by the client's and the task's retries.
    fake.on(lambda r: r.title == titles[down] and r.layer == "score", "500")
    fake.on(lambda r: r.title == titles[garbled] and r.layer == "extract", "bad_schema")
    for fault in ("429", "503", "reset", "malformed", "500"):
        fake.on(lambda r: r.title == titles[flaky] and r.layer == "research", fault, times=1)

    first = process_jobs(limit=10)
    outcome = {j.id: j for j in first.jobs}
    assert {job: outcome[job].status for job in outcome} == {
        down: "failed",
        garbled: "failed",
        flaky: "ready",
        fine: "ready",
    }
    assert first.status == "completed"

    failed = pipeline.store.get_job(down)
    assert failed.status == Status.FAILED
    assert failed.error == "score layer failed: OpenAIAPIError: Error code: 500 - injected 500"
    # 3 task attempts (2 retries), each a client call with 1 retry: 6 requests.
    assert _requests(pipeline, titles[down])["score"] == 6
    garbled_job = pipeline.store.get_job(garbled)
    assert garbled_job.status == Status.FAILED
    assert "did not match the ExtractOutput schema after one repair retry" in garbled_job.error
    assert _requests(pipeline, titles[garbled])["extract"] == 2  # the reply and one repair
    progress = {(r.job_id, r.layer): r.status for r in pipeline.store.list_progress(first.run_id)}
    assert progress[(down, "score")] == ProgressStatus.FAILED
    assert progress[(down, "generate")] == ProgressStatus.SKIPPED
    assert progress[(garbled, "extract")] == ProgressStatus.FAILED
    _assert_ledger_matches_provider(pipeline)

    # The provider recovers: naming the failed jobs finishes them, done layers cost nothing.
    fake.heal()
    before = Counter((r.title, r.layer) for r in fake.requests)
    second = process_jobs(job_ids=[down, garbled])
    assert {j.id: j.status for j in second.jobs} == {down: "ready", garbled: "ready"}
    after = Counter((r.title, r.layer) for r in fake.requests) - before
    assert after == Counter(
        {(titles[down], "score"): 1, (titles[down], "generate"): 1}
        | {(titles[garbled], layer): 1 for layer in MODEL_LAYERS}
    )
    for job in (down, garbled):
        assert pipeline.store.get_job(job).error is None
    _assert_ledger_matches_provider(pipeline)


def test_a_timeout_fails_the_job_and_settles_at_the_input_estimate(pipeline: Pipeline):
    pipeline.set(model_timeout_s=0.5)
    slow, fine = pipeline.add_jobs(2)
    title = pipeline.title(slow)
    pipeline.fake.on(lambda r: r.title == title and r.layer == "generate", "hang")
    summary = process_jobs(limit=10)
    pipeline.fake.release_hangs()
    assert {j.id: j.status for j in summary.jobs} == {slow: "failed", fine: "ready"}
    error = pipeline.store.get_job(slow).error
    assert error == "generate layer failed: OpenAITimeoutError: Request timed out."
    assert _requests(pipeline, title)["generate"] == 3  # the task's two retries
    # Each timed-out request was sent, so may be billed: settled at its input estimate (no
    # output); every answered call matches the provider's usage.
    hung = pipeline.store.usage_total(job_id=slow)
    answered = [r for r in pipeline.fake.billed() if r.title == title]
    assert hung.calls == len(answered) + 3
    assert hung.output_tokens == sum(r.usage["completion_tokens"] for r in answered)
    assert hung.cost_usd > 0
    assert pipeline.store.open_reservations(utcnow()) == 0
    assert [a.kind for a in pipeline.store.list_alerts()].count("unanswered_call") == 1
