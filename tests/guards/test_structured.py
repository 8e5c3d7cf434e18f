"""Schema-constrained output: OpenAI models are asked for the layer's JSON schema (strict), the
reply's raw usage is what is settled, and the text path stays for the offline model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage

from applyflow.llm import constrained, reply_message, structured_method
from applyflow.offline_provider import OfflineProvider, start_offline_provider
from applyflow.strict_schema import openai_strict
from guards.call import CallContext, ModelGuard
from tasks.extract import EXTRACT
from tasks.score import SCORE
from tests.reliability.strict_mode import schema_problems
from tests.samples import sample_postings

MODEL = "openai:gpt-4o-mini"


@pytest.fixture
def provider() -> Iterator[OfflineProvider]:
    server = start_offline_provider()
    try:
        yield server
    finally:
        server.stop()


def _messages() -> list:
    p = sample_postings()[0]
    return EXTRACT.messages({"posting": {"title": p.title, "company": p.company,
                                         "description": p.description}})  # fmt: skip


def _call(guard: ModelGuard, model: str = MODEL):
    return guard.call(
        _messages(), model=model, max_tokens=2000, ctx=CallContext(layer="extract"),
        schema=EXTRACT.schema,
    )  # fmt: skip


@pytest.mark.parametrize(("structured", "mode"), [(True, "json_schema"), (False, "text")])
def test_openai_is_asked_for_the_schema_and_settled_at_the_raw_usage(
    structured: bool, mode: str, provider: OfflineProvider, make_settings, sqlite_store
) -> None:
    settings = make_settings(base_url=provider.url, api_key="x", structured_output=structured)
    result = _call(ModelGuard(settings, sqlite_store, prefect_slots=False))
    [seen] = provider.requests
    assert (seen.mode, seen.strict) == (mode, structured)  # strict: OpenAI constrains decoding
    EXTRACT.parse(result.text)  # the reply's text is the schema's JSON either way
    assert seen.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (
        seen.usage["prompt_tokens"],
        seen.usage["completion_tokens"],
    )
    assert not result.usage.estimated and sqlite_store.usage_total().calls == 1


def test_the_reservation_counts_the_schema_the_request_carries(
    provider: OfflineProvider, make_settings, sqlite_store
) -> None:
    """A provider bills the sent schema as prompt tokens: the worst case reserved includes it,
    and only where the schema is sent."""
    from guards.estimate import estimate_input_tokens, estimate_schema_tokens
    from guards.pricing import cost_usd

    reserved = {}
    for structured in (True, False):
        settings = make_settings(base_url=provider.url, api_key="x", structured_output=structured)
        guard = ModelGuard(settings, sqlite_store, prefect_slots=False)
        reserved[structured] = _call(guard).reserved_usd
    prompt, schema = estimate_input_tokens(_messages()), estimate_schema_tokens(EXTRACT.schema)
    assert schema > 100  # the extract schema is not small
    assert reserved[True] == pytest.approx(cost_usd(settings, MODEL, prompt + schema, 2000))
    assert reserved[False] == pytest.approx(cost_usd(settings, MODEL, prompt, 2000))


def test_which_models_get_a_schema(make_settings) -> None:
    settings = make_settings()
    native, none = {"structured_output": True}, {"structured_output": False}
    assert structured_method(settings, "openai:gpt-4o-mini", native) == "json_schema"
    assert structured_method(settings, "openai:some-new-model") == "json_schema"
    assert structured_method(settings, "openai:gpt-3.5-turbo", none) is None
    assert structured_method(settings, "anthropic:claude-sonnet-4-5", native) == "json_schema"
    assert structured_method(settings, "anthropic:claude-3-5-haiku") == "function_calling"
    assert structured_method(settings, "offline") is None
    assert structured_method(settings, "ollama:llama3.1") is None
    assert structured_method(make_settings(structured_output=False), "openai:gpt-4o") is None


def test_the_request_carries_a_strict_schema_and_anthropic_its_structured_output() -> None:
    """What LangChain would send: OpenAI a strict response format with the strict-valid schema,
    Anthropic (a model with structured outputs) ``output_config.format``."""
    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI

    openai = constrained(ChatOpenAI(model="gpt-4o-mini", api_key="x"), SCORE.schema,
                         "json_schema", "openai")  # fmt: skip
    sent = _bound(openai)["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"] == openai_strict(SCORE.schema.model_json_schema())
    assert schema_problems(sent["json_schema"]["schema"]) == []
    claude = ChatAnthropic(model="claude-sonnet-4-5", api_key="x")
    assert claude.profile and claude.profile["structured_output"] is True
    sent = _bound(constrained(claude, SCORE.schema, "json_schema", "anthropic"))
    output_format = sent["output_config"]["format"]
    assert output_format["type"] == "json_schema"
    assert output_format["schema"]["additionalProperties"] is False


def _bound(runnable) -> dict:
    """The keyword arguments the structured runnable binds to its chat model's calls."""
    return runnable.first.steps__["raw"].kwargs


def test_a_tool_call_reply_becomes_its_arguments_as_text() -> None:
    usage = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    raw = AIMessage(
        content="",
        tool_calls=[{"name": "ExtractOutput", "args": {"title": "x"}, "id": "t1"}],
        usage_metadata=usage,
    )
    message = reply_message({"raw": raw, "parsed": None, "parsing_error": None})
    assert json.loads(message.text) == {"title": "x"}
    assert message.usage_metadata == usage and not getattr(message, "tool_calls", None)
    plain = AIMessage(content="{}")
    assert reply_message(plain) is plain
