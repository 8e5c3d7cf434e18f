"""Repair calls with and without schema-constrained output, on a provider answering a known
share of requests off-schema (``bad_schema_every``), through the real pipeline.

Without it every off-schema first answer costs a repair call; with it (strict ``json_schema``)
the fake server decodes into the sent schema, so none does, and the ledger still matches
what the provider billed (usage comes from the raw message).
"""

from __future__ import annotations

import pytest

from applyflow.strict_schema import openai_strict
from flows.pipeline import process_jobs
from tasks.score import SCORE
from tests.reliability.conftest import Pipeline
from tests.reliability.strict_mode import constrain
from tests.reliability.test_pipeline_faults import _assert_ledger_matches_provider

EVERY = 4  # a quarter of the answers are off-schema


@pytest.mark.parametrize("structured", [False, True], ids=["text", "strict"])
def test_repair_calls_follow_the_off_schema_answers_unless_decoding_is_constrained(
    pipeline: Pipeline, structured: bool
):
    pipeline.set(structured_output=structured, min_fit=0)  # no fit gate: every layer runs
    jobs = pipeline.add_jobs(3)
    pipeline.fake.mix(bad_schema_every=EVERY)

    summary = process_jobs(limit=10)

    requests = pipeline.fake.requests
    layer_calls = [r for r in requests if r.layer is not None]
    assert layer_calls == requests  # every request is a layer's
    off_first = [r for r in requests if r.fault == "bad_schema" and not r.repair]
    repairs = [r for r in requests if r.repair]
    if structured:
        assert all(r.strict_schema is not None for r in requests)  # strict: true each time
        assert all(r.status == 200 and not r.schema_problems for r in requests)  # accepted
        assert repairs == []
        assert {j.id: j.status for j in summary.jobs} == dict.fromkeys(jobs, "ready")
    else:
        assert all(r.response_format is None for r in requests)
        assert len(repairs) == len(off_first)
    assert len(off_first) >= 2  # the mix did hit first attempts
    _assert_ledger_matches_provider(pipeline)


def test_a_schema_strict_mode_refuses_is_a_400_naming_the_problem(fake_openai) -> None:
    import openai

    client = openai.OpenAI(base_url=fake_openai.url, api_key="x", max_retries=0)
    loose = {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}}
    fake_openai.script("bad_schema")
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "Loose", "strict": True, "schema": loose},
            },
        )
    message = refused.value.body["message"]
    assert message.startswith("Invalid schema for response_format 'Loose': ")
    assert "'additionalProperties' is required to be supplied and to be false" in message
    assert "Missing 'a'" in message and "'minLength' is not permitted" in message
    [seen] = fake_openai.requests
    assert (seen.status, seen.fault, seen.usage) == (400, "refused", None)  # nothing billed
    assert fake_openai.state.queue == ["bad_schema"]  # the scripted fault is still to come


def test_constrained_decoding_writes_only_the_sent_schema() -> None:
    """The fake's decoder: stray keys dropped, wrong types replaced, skipped keys written."""
    schema = openai_strict(SCORE.schema.model_json_schema())
    meant = {"unexpected": "x", "fit": "high", "gaps": ["Go", 3], "rationale": "Fits."}
    assert constrain(meant, schema) == {
        "fit": 0,
        "category": None,
        "matched_skills": [],
        "gaps": ["Go", ""],
        "rationale": "Fits.",
    }
    assert constrain({"fit": 250}, schema)["fit"] == 100  # within the schema's maximum
