"""The model call's span from the guarded call: OTLP over HTTP and gRPC, content only when
asked (secrets masked even then), refusals and fallbacks as events, no SDK without endpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from applyflow.errors import CircuitOpen, RateLimited
from applyflow.settings import Settings
from applyflow.store import Store
from applyflow.tracing import Tracing, otlp_endpoint, tracing_from_env
from guards.call import CallContext, ModelGuard
from tests.guards._fakes import FakeChat
from tests.otlp import Received, grpc_receiver, http_receiver
from tests.samples import PROFILE
from tests.waiting import wait_until

KEY = "sk-canary-91c3e5a7b2d4f608"
PROFILE_LINE = next(line for line in PROFILE.splitlines() if len(line.strip()) > 30).strip()
CTX = CallContext(run_id="r1", job_id="j1", layer="score")
PROMPT = [SystemMessage("Score the fit."), HumanMessage(f"profile: {PROFILE_LINE} key {KEY}")]


def _guard(settings: Settings, store: Store, tracing: Tracing, fake: FakeChat) -> ModelGuard:
    return ModelGuard(
        settings, store, model_factory=lambda m, t: fake, prefect_slots=False, tracing=tracing
    )


def _spans(tracing: Tracing, received: Received, count: int = 1) -> list:
    tracing.flush()
    return wait_until(lambda: len(received.spans) >= count and received.spans, "spans", timeout=30)


def test_content_is_traced_only_when_asked_and_never_the_key(make_settings, store) -> None:
    settings = make_settings(api_key=KEY)
    with http_receiver() as (url, received):
        for content in (False, True):
            tracing = tracing_from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{url}/v1/traces"},
                                       content=content)  # fmt: skip
            fake = FakeChat(reply=f'{{"fit": 70, "note": "{PROFILE_LINE}"}}')
            _guard(settings, store, tracing, fake).call(
                PROMPT, model="fakeai:small", max_tokens=20, ctx=CTX
            )
            tracing.flush()
        plain, full = _spans(tracing, received, 2)
    assert "gen_ai.input.messages" not in plain.attributes
    assert PROFILE_LINE not in plain.text() and KEY not in plain.text()
    assert PROFILE_LINE in full.attributes["gen_ai.input.messages"]
    assert PROFILE_LINE in full.attributes["gen_ai.output.messages"]
    assert KEY not in full.text() and "**********" in full.attributes["gen_ai.input.messages"]
    a = plain.attributes
    assert (plain.name, a["gen_ai.system"], a["gen_ai.request.model"]) == (
        "llm fakeai:small", "fakeai", "small"
    )  # fmt: skip
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (10, 5)
    assert (a["applyflow.run_id"], a["applyflow.job_id"], a["applyflow.layer"]) == (
        "r1",
        "j1",
        "score",
    )


def test_spans_go_over_grpc_when_the_protocol_says_so(make_settings, store) -> None:
    with grpc_receiver() as (url, received):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
               "OTEL_SERVICE_NAME": "applyflow-test"}  # fmt: skip
        tracing = tracing_from_env(env)
        _guard(make_settings(), store, tracing, FakeChat()).call(
            PROMPT, model="fakeai:small", max_tokens=20, ctx=CTX
        )
        (span,) = _spans(tracing, received)
    assert span.name == "llm fakeai:small"
    assert span.attributes["applyflow.cost_usd"] > 0
    assert span.resource["service.name"] == "applyflow-test"


def test_fallback_rate_and_breaker_refusals_are_events(make_settings, store) -> None:
    settings = make_settings(
        budget_total_usd=0.05, fallback_model="fakeai:small", breaker_fail_max=1,
        rate_limits={"fakeai": "100000/minute", "otherai": "1/day"}, rate_max_wait_s=0,
    )  # fmt: skip
    with http_receiver() as (url, received):
        tracing = tracing_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": url})
        guard = _guard(settings, store, tracing, FakeChat())
        result = guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
        assert result.fallback
        guard.call(PROMPT, model="otherai:mid", max_tokens=10, ctx=CTX)
        with pytest.raises(RateLimited):
            guard.call(PROMPT, model="otherai:mid", max_tokens=10, ctx=CTX)
        failing = _guard(settings, store, tracing, FakeChat(error=TimeoutError("timed out")))
        with pytest.raises(TimeoutError):
            failing.call(PROMPT, model="fakeai:small", max_tokens=10, ctx=CTX)
        with pytest.raises(CircuitOpen):
            failing.call(PROMPT, model="fakeai:small", max_tokens=10, ctx=CTX)
        fell_back, ok, rate, timeout, breaker = _spans(tracing, received, 5)
    ((name, event),) = fell_back.events
    assert (name, event["applyflow.refusal"], event["applyflow.model"]) == (
        "fallback", "budget", "fakeai:small"
    )  # fmt: skip
    assert fell_back.attributes["applyflow.fallback"] is True
    assert fell_back.attributes["gen_ai.response.model"] == "small"
    assert ok.events == [] and ok.status == 0
    assert dict(rate.events)["refused"]["applyflow.refusal"] == "rate"
    assert dict(breaker.events)["refused"]["applyflow.refusal"] == "breaker"
    # A provider's own error: its type only (its message may quote anything).
    assert (timeout.status, timeout.status_message) == (2, "TimeoutError")
    assert dict(timeout.events) == {"exception": {"exception.type": "TimeoutError"}}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, ("http/protobuf", "http://c:4318/v1/traces")),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
         ("grpc", "http://c:4317")),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
          "http://t:9/x", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
          "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ("http/protobuf", "http://t:9/x")),
    ],
)  # fmt: skip
def test_the_standard_variables_pick_endpoint_and_protocol(env: dict, expected: tuple) -> None:
    assert otlp_endpoint(env) == expected


def test_an_unsupported_protocol_warns_once_and_traces_nothing(caplog) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    }
    tracing = tracing_from_env(env)
    assert not tracing.enabled
    (record,) = caplog.records
    assert "http/json" in record.getMessage()


def test_no_endpoint_builds_no_exporter() -> None:
    """(LangSmith imports the OpenTelemetry SDK itself when it is installed; applyflow's own
    tracing module and every exporter stay unloaded.)"""
    code = (
        "import sys\n"
        "from applyflow.runtime import Runtime\n"
        "import flows.pipeline, guards.call, applyflow.cli\n"
        "tracing = Runtime().tracer()\n"
        "with tracing.span('x') as span: span.set({'a': 1})\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('applyflow.tracing._otel', "
        "'opentelemetry.exporter', 'grpc')))\n"
        "print(type(tracing).__name__, tracing.enabled, loaded)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Tracing False []"
