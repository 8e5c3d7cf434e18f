"""structured_output: repair calls with and without schema-constrained output (issue #18 point 6).

The same jobs through ``process_jobs`` twice, side by side in one run, each on a fresh store
and a fresh fault-injecting OpenAI server (``tests/reliability/fake_openai.py``) that answers
every 4th request off-schema (``bad_schema_every=4``, 25% of the answers):

before  ``APPLYFLOW_STRUCTURED_OUTPUT=false``: the schema in the prompt only; every off-schema
        first answer costs the layer's one repair call (an off-schema repair fails the job).
after   ``true``: a strict ``json_schema`` response format. The server checks the schema the way
        OpenAI's strict mode does (a refused one is a 400) and decodes into it, so an answer
        cannot leave the sent schema (its model of constrained decoding, not OpenAI itself).

Repair rate = repair calls / first-attempt calls. Spend is what the ledger recorded (priced
at gpt-4o-mini's genai-prices price; nothing is billed), checked against the usage the server
sent. Prefect runs on its temporary API without an ``llm-openai`` limit: this counts calls, it
times nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.postings import posting_records, write_jsonl
from bench.provider_process import paid_env
from bench.report import quick_mode, report

__all__ = ["NAME", "main", "run_side"]

NAME = "structured_output"
MODEL = "openai:gpt-4o-mini"
EVERY = 4  # every 4th answer off-schema: 25%


def _env(folder: Path, base_url: str, structured: bool) -> dict[str, str]:
    return {
        **paid_env(folder, base_url, MODEL),
        "APPLYFLOW_STRUCTURED_OUTPUT": str(structured).lower(),
        "APPLYFLOW_MIN_FIT": "0",  # no fit gate: every job runs every layer
        "APPLYFLOW_MODEL_MAX_RETRIES": "0",
        "APPLYFLOW_BUDGET_TOTAL_USD": "100",
        "APPLYFLOW_RATE_LIMITS": json.dumps({"openai": "100000/minute"}),
        "APPLYFLOW_RATE_STORAGE_URL": "memory://",
    }


def run_side(folder: Path, *, structured: bool, jobs: int, every: int = EVERY) -> dict[str, Any]:
    """``jobs`` new jobs through ``process_jobs`` on a fresh server mixing in off-schema answers."""
    from applyflow.models import utcnow
    from applyflow.settings import get_settings
    from applyflow.store import open_store
    from flows.pipeline import process_jobs
    from tasks.ingest import read_source
    from tests.reliability.fake_openai import FakeOpenAI

    folder.mkdir(parents=True, exist_ok=True)
    fake = FakeOpenAI(bad_schema_every=every).start()
    env = _env(folder, fake.url, structured)
    saved = {name: os.environ.get(name) for name in env}
    try:
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        source = write_jsonl(folder / "postings.jsonl", posting_records(jobs, seed=5))
        store = open_store(settings)
        try:
            store.upsert_jobs(read_source(str(source), settings=settings).postings, utcnow())
            summary = process_jobs(limit=jobs)
            ledger = store.usage_total()
        finally:
            store.close()
        requests = fake.requests
    finally:
        fake.stop()
        for name, value in saved.items():  # the process settings as they were
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
    first = [r for r in requests if not r.repair]
    repairs = [r for r in requests if r.repair]
    billed = [r for r in requests if r.usage is not None]
    return {
        "mode": "after (strict)" if structured else "before (text)",
        "model calls": len(requests),
        "first attempts": len(first),
        "off-schema answers": sum(r.fault == "bad_schema" for r in requests),
        "of them first": sum(r.fault == "bad_schema" for r in first),
        "repair calls": len(repairs),
        "repair rate": round(len(repairs) / len(first), 4) if first else 0.0,
        "strict requests": sum(r.strict_schema is not None for r in requests),
        "refused (400)": sum(r.fault == "refused" for r in requests),
        "jobs ready": summary.counts.get("ready", 0),
        "jobs failed": summary.counts.get("failed", 0),
        "spend_usd": round(ledger.cost_usd, 6),
        # The ledger is the server's bill: one row per billed answer, the same tokens.
        "ledger = bill": ledger.calls == len(billed)
        and ledger.input_tokens == sum(r.usage["prompt_tokens"] for r in billed)
        and ledger.output_tokens == sum(r.usage["completion_tokens"] for r in billed),
    }


def main() -> dict[str, Any]:
    jobs = 4 if quick_mode() else 16
    with tempfile.TemporaryDirectory(prefix="bench-structured-") as tmp:
        root = Path(tmp)
        run_side(root / "warm", structured=False, jobs=1, every=10**9)  # imports, Prefect API
        rows = [
            run_side(root / "before", structured=False, jobs=jobs),
            run_side(root / "after", structured=True, jobs=jobs),
        ]
    before, after = rows
    return report(
        NAME,
        f"Structured output: {jobs} jobs, every {EVERY}th answer off-schema, before / after",
        rows,
        params={
            "jobs": jobs,
            "bad_schema_every": EVERY,
            "model": MODEL,
            "provider": "tests/reliability/fake_openai.py (models strict mode; not OpenAI)",
            "prefect": "temporary (ephemeral) API, no llm-openai limit: calls are counted",
            "min_fit": 0,
            "store": "sqlite",
        },
        summary={
            "repair_rate_before": before["repair rate"],
            "repair_rate_after": after["repair rate"],
            "repair_calls_saved": before["repair calls"] - after["repair calls"],
            "spend_saved_usd": round(before["spend_usd"] - after["spend_usd"], 6),
        },
    )


if __name__ == "__main__":
    main()
