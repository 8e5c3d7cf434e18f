"""run_layer through the real guarded call (no Prefect): cache, repair, research fetch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from applyflow.errors import LayerError
from applyflow.models import utcnow
from applyflow.offline import layer_input
from applyflow.runtime import Runtime
from applyflow.settings import load_settings
from applyflow.store import Store
from guards.call import ModelGuard
from tasks.extract import EXTRACT
from tasks.layers import run_layer
from tasks.research import RESEARCH
from tasks.run import RunContext
from tasks.score import SCORE
from tests.loopback import Handler, serve
from tests.samples import PROFILE, sample_postings
from tests.scripted import ScriptedOffline

# Scripted replies: a text, a function of the offline answer's text, or None (that answer).
REPLIES: list[str | Callable[[str], str] | None] = []
SEEN: list[list[BaseMessage]] = []


class _Scripted(ScriptedOffline):
    def before(self, layer: str | None, messages: list[BaseMessage]) -> None:
        SEEN.append(messages)

    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        scripted = REPLIES.pop(0) if REPLIES else None
        message = result.generations[0].message
        if callable(scripted):
            message.content = scripted(message.content)
        elif scripted is not None:
            message.content = scripted


@pytest.fixture
def ctx(sqlite_store: Store, tmp_path: Path) -> Iterator[RunContext]:
    REPLIES.clear()
    SEEN.clear()
    settings = load_settings(
        store_url=sqlite_store.url, output_dir=tmp_path / "out", rate_storage_url="memory://"
    )
    guard = ModelGuard(
        settings,
        sqlite_store,
        model_factory=lambda spec, max_tokens: _Scripted(max_tokens=max_tokens),
        prefect_slots=False,
    )
    sqlite_store.upsert_jobs(sample_postings()[:1], utcnow())
    yield RunContext("run1", settings, sqlite_store, guard, PROFILE)


def _job_id(ctx: RunContext) -> str:
    return ctx.store.list_jobs()[0].id


def test_unchanged_inputs_are_cached_and_force_or_a_new_posting_reruns(ctx: RunContext):
    job_id = _job_id(ctx)
    first = run_layer(EXTRACT, ctx, job_id)
    assert not first.cached and first.calls == 1 and len(SEEN) == 1
    stored = ctx.store.get_job(job_id).outputs["extract"]
    assert stored.model == "offline" and stored.output["title"]

    again = run_layer(EXTRACT, ctx, job_id)
    assert again.cached and again.cost_usd == 0 and len(SEEN) == 1
    assert ctx.store.usage_total(job_id=job_id).calls == 1

    ctx.force = True
    assert not run_layer(EXTRACT, ctx, job_id).cached and len(SEEN) == 2
    ctx.force = False
    ctx.model = "offline:v2"  # the same model spelled differently: still cached
    assert run_layer(EXTRACT, ctx, job_id).cached
    ctx.model = "ollama:llama3.1"  # another model: its answer is not the offline one's
    assert not run_layer(EXTRACT, ctx, job_id).cached and len(SEEN) == 3
    assert ctx.store.get_job(job_id).outputs["extract"].model == "ollama:llama3.1"


def test_a_bad_reply_gets_one_repair_call_then_a_clear_layer_error(ctx: RunContext):
    job_id = _job_id(ctx)
    REPLIES.extend(["not json at all", None])
    result = run_layer(EXTRACT, ctx, job_id)
    assert result.calls == 2
    repair = SEEN[1][-1].text
    assert repair.startswith("Your reply did not match the schema") and "Invalid JSON" in repair
    assert SEEN[1][-2].text == "not json at all"  # the bad reply is shown back to the model

    REPLIES.extend(['{"title": "x"}', '{"title": "still incomplete"}'])
    ctx.force = True
    expected = r"extract layer failed: .*ExtractOutput schema after one repair retry: company"
    with pytest.raises(LayerError, match=expected):
        run_layer(EXTRACT, ctx, job_id)
    assert ctx.store.usage_total(job_id=job_id).calls == 4  # every call paid and recorded


class _CompanySite(Handler):
    def do_GET(self) -> None:  # noqa: N802
        page = b"<html><body><h1>Harbourline</h1><p>We are a B Corp with 85 employees.</p>"
        self.reply(200, page, {"Content-Type": "text/html"})


@pytest.fixture
def site() -> Iterator[str]:
    with serve(_CompanySite) as base:
        yield f"{base}/about"


def test_research_fetches_the_company_page_only_when_allowed(ctx: RunContext, site: str):
    job_id = _job_id(ctx)
    job = ctx.store.get_job(job_id)
    ctx.store.upsert_job(
        sample_postings()[0].model_copy(update={"description": f"{job.description}\nMore: {site}"}),
        utcnow(),
    )
    run_layer(EXTRACT, ctx, job_id)

    run_layer(RESEARCH, ctx, job_id)  # research_fetch is off by default
    assert ctx.store.get_job(job_id).outputs["research"].output["sources"] == ["posting"]

    ctx.settings = load_settings(**{**ctx.settings.model_dump(), "research_fetch": True})
    ctx.force = True
    run_layer(RESEARCH, ctx, job_id)  # on, but loopback is not a public address
    sources = ctx.store.get_job(job_id).outputs["research"].output["sources"]
    assert sources[1].endswith("not fetched: not a public http(s) address")

    ctx.runtime = Runtime(allow_private_hosts=True)  # the test's site is on loopback
    run_layer(RESEARCH, ctx, job_id)
    output = ctx.store.get_job(job_id).outputs["research"].output
    assert output["sources"] == ["posting", f"company page {site}"]
    assert "company: b corp" in [s.casefold() for s in output["signals"]]
    assert "We are a B Corp with 85 employees." in layer_input(SEEN[-1])["company_page"]


def test_only_the_layer_that_declares_a_fit_field_sets_the_fit():
    assert SCORE.fit_field == "fit" and SCORE.fit_of({"fit": 72}) == 72
    for layer in (EXTRACT, RESEARCH):
        assert layer.fit_field is None and layer.fit_of({"fit": 72}) is None


def _invent(text: str) -> str:
    reply = json.loads(text)
    reply["cover_letter_markdown"] += "\nAt Globex Corporation I grew revenue by 250%.\n"
    return json.dumps(reply)


def test_a_review_problem_gets_the_repair_call_and_a_worse_repair_keeps_the_first_reply(
    ctx: RunContext,
):
    from tasks.generate import GENERATE

    job_id = _job_id(ctx)
    for layer in (EXTRACT, RESEARCH, SCORE):
        run_layer(layer, ctx, job_id)
    REPLIES.extend([_invent, "not json"])
    result = run_layer(GENERATE, ctx, job_id)
    assert result.calls == 2
    repair = SEEN[-1][-1].text
    assert repair.startswith("Your CV and cover letter state things the candidate profile does")
    assert "name 'Globex Corporation' (cover letter)" in repair and "'250%'" in repair
    job = ctx.store.get_job(job_id)
    assert "Globex" in job.outputs["generate"].output["cover_letter_markdown"]  # the first reply
    assert {c.text for c in job.unsupported_claims} == {"Globex Corporation", "250%"}

    ctx.force = True
    REPLIES.extend(["not json", _invent])  # a bad reply, repaired into one with claims
    assert run_layer(GENERATE, ctx, job_id).calls == 2
    assert {c.text for c in ctx.store.get_job(job_id).unsupported_claims} == {
        "Globex Corporation",
        "250%",
    }
    REPLIES.extend([None])  # the offline answer: nothing to repair
    assert run_layer(GENERATE, ctx, job_id).calls == 1
    assert ctx.store.get_job(job_id).unsupported_claims == []
