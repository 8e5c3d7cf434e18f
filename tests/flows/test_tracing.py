"""Traces of a pipeline run, exported over OTLP/HTTP to a loopback receiver that decodes the
protobuf: a span per run, job, layer and model call, linked parent to child across Prefect's
thread pool, with the GenAI attributes, refusals as events, and no key or profile text."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from applyflow.runtime import current_runtime, use_runtime
from applyflow.settings import LAYERS
from applyflow.tracing import Tracing, tracing_from_env
from flows.pipeline import process_jobs
from tests.flows.conftest import Env
from tests.otlp import Received, http_receiver
from tests.samples import PROFILE
from tests.waiting import wait_until

KEY = "sk-canary-4f7e9b2c1d0a8e6f"
PRICES = '{"offline": {"input": 50.0, "output": 150.0}}'
# Lines of the candidate's profile that the score and generate layers send to the model.
PROFILE_LINES = [line.strip() for line in PROFILE.splitlines() if len(line.strip()) > 30][:5]
MODEL_LAYERS = [layer for layer in LAYERS if layer != "publish"]  # publish calls no model


@pytest.fixture
def traced(pipeline_env: Env) -> Iterator[tuple[Tracing, Received]]:
    pipeline_env.set(api_key=KEY, prices=PRICES)
    with http_receiver() as (url, received):
        tracing = tracing_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": url})
        assert tracing.enabled
        with use_runtime(dataclasses.replace(current_runtime(), tracing=tracing)):
            yield tracing, received


def _flushed(tracing: Tracing, received: Received, prefix: str, count: int) -> None:
    tracing.flush()
    wait_until(lambda: len(received.named(prefix)) >= count, f"{count} {prefix!r} spans",
               timeout=30)  # fmt: skip


def test_a_run_exports_linked_spans_with_genai_attributes_and_no_secrets(
    pipeline_env: Env, traced: tuple[Tracing, Received]
) -> None:
    tracing, received = traced
    job_ids = pipeline_env.add_jobs(2)
    summary = process_jobs(limit=2)
    assert [o.status.value for o in summary.jobs] == ["ready", "ready"]
    _flushed(tracing, received, "run ", 1)

    (run,) = received.named("run process-jobs")
    assert run.parent_id == b""
    assert run.attributes["applyflow.run_id"] == summary.run_id
    assert run.attributes["applyflow.spend_usd"] == summary.spend_usd > 0
    assert run.resource["service.name"] == "applyflow"
    jobs = {s.attributes["applyflow.job_id"]: s for s in received.named("job ")}
    assert set(jobs) == set(job_ids)
    for job_id, job in jobs.items():
        assert job.name == f"job {job_id}"
        assert (job.parent_id, job.trace_id) == (run.span_id, run.trace_id)
        assert job.attributes["applyflow.job.status"] == "ready"
        layers = {s.name: s for s in received.named("layer ") if s.parent_id == job.span_id}
        assert set(layers) == {f"layer {name}" for name in LAYERS}
        for name in MODEL_LAYERS:
            layer = layers[f"layer {name}"]
            calls = [s for s in received.named("llm ") if s.parent_id == layer.span_id]
            assert len(calls) == 1, name
            (call,) = calls
            assert call.name == "llm offline"
            a = call.attributes
            assert (a["gen_ai.system"], a["gen_ai.request.model"], a["applyflow.layer"]) == (
                "offline",
                "offline",
                name,
            )
            assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
            assert 0 < a["applyflow.cost_usd"] <= a["applyflow.reserved_usd"]
            assert a["applyflow.fallback"] is False
            assert a["applyflow.job_id"] == job_id
            assert layer.attributes["applyflow.cost_usd"] == pytest.approx(a["applyflow.cost_usd"])
        assert job.attributes["applyflow.cost_usd"] == pytest.approx(
            sum(s.attributes["applyflow.cost_usd"] for s in received.named("llm ")
                if s.attributes["applyflow.job_id"] == job_id), abs=1e-6
        )  # fmt: skip
    everything = "\n".join(s.text() for s in received.spans)
    assert KEY not in everything
    assert "gen_ai.input.messages" not in everything
    for line in PROFILE_LINES:
        assert line not in everything, line


def test_a_budget_refusal_is_an_event_on_the_model_call(
    pipeline_env: Env, traced: tuple[Tracing, Received]
) -> None:
    tracing, received = traced
    pipeline_env.set(budget_per_job_usd=0.000001)
    pipeline_env.add_jobs(1)
    (outcome,) = process_jobs(limit=1).jobs
    assert outcome.status.value == "over_budget"
    _flushed(tracing, received, "run ", 1)
    (call,) = received.named("llm ")
    events = dict(call.events)
    assert list(events) == ["refused", "exception"]
    refused = events["refused"]
    assert (refused["applyflow.refusal"], refused["applyflow.budget.scope"]) == ("budget", "job")
    assert refused["applyflow.budget.cap_usd"] == 0.000001
    reason = refused["applyflow.reason"]
    assert events["exception"] == {"exception.type": "BudgetExceeded", "exception.message": reason}
    assert call.status == 2 and call.status_message.startswith("BudgetExceeded: job budget")
    (layer,) = received.named("layer extract")
    assert layer.status == 2 and call.parent_id == layer.span_id
