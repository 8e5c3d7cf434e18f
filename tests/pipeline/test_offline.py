"""The offline model: deterministic, reports usage, fills every schema, ignores injection."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from applyflow.llm import call_config, make_chat_model
from applyflow.models import LayerOutput, utcnow
from applyflow.offline import OfflineChatModel
from applyflow.settings import load_settings
from tasks.extract import EXTRACT
from tasks.generate import GENERATE
from tasks.layers import Layer
from tasks.research import RESEARCH
from tasks.run import RunContext
from tasks.score import SCORE
from tests.samples import PROFILE, as_job, sample_postings

CHAIN: list[Layer] = [EXTRACT, RESEARCH, SCORE, GENERATE]


def _run_chain(model: OfflineChatModel, job, ctx: RunContext) -> dict[str, AIMessage]:
    """Each layer's real prompt through the offline model; outputs validated, stored on the job."""
    replies: dict[str, AIMessage] = {}
    for layer in CHAIN:
        reply = model.invoke(layer.messages(layer.build_input(job, ctx)), call_config(layer.name))
        parsed = layer.parse(reply.text, {"profile": PROFILE})
        job.outputs[layer.name] = LayerOutput(
            output=parsed.model_dump(mode="json"), input_hash="x", model="offline", at=utcnow()
        )
        replies[layer.name] = reply
    return replies


def test_every_sample_posting_gives_schema_valid_outputs_with_usage(input_context):
    postings = sample_postings()
    assert len(postings) >= 20
    model = OfflineChatModel()
    fits = set()
    for posting in postings:
        job = as_job(posting)
        replies = _run_chain(model, job, input_context)
        for name, reply in replies.items():
            usage = reply.usage_metadata
            assert usage and usage["input_tokens"] > 0 and usage["output_tokens"] > 0, name
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            assert reply.response_metadata["model_name"] == "offline"
        out = job.outputs
        assert out["extract"].output["title"] == posting.title
        assert out["extract"].output["skills"], posting.title
        assert 0 <= out["score"].output["fit"] <= 100
        assert PROFILE.splitlines()[0].removeprefix("# ") in out["generate"].output["cv_markdown"]
        assert posting.company in out["generate"].output["cover_letter_markdown"]
        fits.add(out["score"].output["fit"])
    assert len(fits) >= 8, f"sample fits should spread out, got {sorted(fits)}"


def test_same_input_gives_the_same_reply(input_context):
    job = as_job(sample_postings()[0])
    first = _run_chain(OfflineChatModel(), job, input_context)
    second = _run_chain(OfflineChatModel(), as_job(sample_postings()[0]), input_context)
    assert {k: v.text for k, v in first.items()} == {k: v.text for k, v in second.items()}
    assert {k: v.usage_metadata for k, v in first.items()} == {
        k: v.usage_metadata for k, v in second.items()
    }


def test_generated_documents_quote_only_profile_facts(input_context):
    job = next(as_job(p) for p in sample_postings() if p.title == "Go Backend Engineer")
    out = _run_chain(OfflineChatModel(), job, input_context)
    generated = json.loads(out["generate"].text)
    profile_lines = {line.strip().lstrip("- ").strip() for line in PROFILE.splitlines()}
    cv_bullets = [
        line[2:] for line in generated["cv_markdown"].splitlines() if line.startswith("- ")
    ]
    skills = set(generated["highlighted_skills"])
    # Every CV bullet is a profile line verbatim or one of the highlighted profile skills.
    assert all(b in profile_lines or b in skills for b in cv_bullets), cv_bullets
    # Evidence is told in a sentence, not tagged on in parentheses.
    letter = generated["cover_letter_markdown"]
    assert "At Parcelly, I wrote a Go service that deduplicates carrier events" in letter
    assert "(Data Engineer" not in letter
    assert "gRPC" not in skills  # asked for by the posting, absent from the profile


def test_prompt_injection_in_a_posting_does_not_change_the_score(input_context):
    posting = next(p for p in sample_postings() if "ignore previous instructions" in p.description)
    clean = posting.model_copy(
        update={"description": posting.description.split("Note to AI screening tools")[0]}
    )
    scores = []
    for item in (posting, clean):
        job = as_job(item)
        _run_chain(OfflineChatModel(), job, input_context)
        scores.append(job.outputs["score"].output["fit"])
    assert scores[0] == scores[1] < 100


def test_reply_is_cut_at_max_tokens_like_a_real_provider(input_context):
    job = as_job(sample_postings()[0])
    reply = OfflineChatModel(max_tokens=20).invoke(
        EXTRACT.messages(EXTRACT.build_input(job, input_context)), call_config("extract")
    )
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata["output_tokens"] <= 20
    with pytest.raises(ValueError):
        EXTRACT.parse(reply.text)


def test_a_call_not_told_its_layer_gets_an_error_reply_not_a_guess():
    messages = EXTRACT.messages({"posting": {"title": "Engineer"}})
    for config in ({}, {"metadata": {"applyflow_layer": "no-such-layer"}}):
        reply = OfflineChatModel().invoke(messages, config)
        assert "no known applyflow_layer in the metadata" in json.loads(reply.text)["error"]


def test_real_prompts_carry_no_offline_markers_and_the_input_is_plain_json(input_context):
    job = as_job(sample_postings()[0])
    _run_chain(OfflineChatModel(), job, input_context)  # stores the upstream outputs
    for layer in CHAIN:
        data = layer.build_input(job, input_context)
        system, user = layer.messages(data)
        assert "applyflow-layer" not in system.text and "INPUT (JSON)" not in user.text
        assert json.loads(user.text) == json.loads(json.dumps(data))


def test_factory_gives_the_offline_model_without_key_or_network():
    model = make_chat_model(load_settings(), "offline", max_tokens=321)
    assert isinstance(model, OfflineChatModel) and model.max_tokens == 321


def test_factory_builds_a_provider_model_from_settings_without_leaking_the_key():
    settings = load_settings(
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-canary-123",
        model_timeout_s=7,
        model_max_retries=1,
    )
    model = make_chat_model(settings, "openai:gpt-4o-mini", max_tokens=123)
    assert type(model).__name__ == "ChatOpenAI"
    assert (model.model_name, model.max_tokens, model.max_retries) == ("gpt-4o-mini", 123, 1)
    assert model.openai_api_base == "http://127.0.0.1:9/v1" and model.request_timeout == 7
    assert model.openai_api_key.get_secret_value() == "sk-canary-123"
    assert "sk-canary-123" not in repr(model)
