"""A store seeded with everything the dashboard shows, through the public store API only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from applyflow.models import (
    Alert,
    BreakerState,
    JobPosting,
    LayerOutput,
    ProgressRecord,
    ProgressStatus,
    Run,
    RunStatus,
    Status,
    UsageRecord,
)
from applyflow.periods import budget_scopes
from applyflow.settings import LAYERS
from applyflow.store import Store

# (title, company, history): history is a list of (status, minutes before now).
JOBS: list[tuple[str, str, list[tuple[Status, int]]]] = [
    ("Platform Engineer", "Acme", [(Status.APPLIED, 120)]),
    ("Data Engineer", "Globex", [(Status.APPLIED, 30), (Status.INTERVIEW, 10)]),
    ("Backend Developer", "Initech", [(Status.APPLIED, 3 * 24 * 60)]),
    (
        "Site Reliability Engineer",
        "Umbrella",
        [(Status.APPLIED, 20 * 24 * 60), (Status.INTERVIEW, 9000), (Status.OFFER, 600)],
    ),
    ("ML Engineer", "Hooli", [(Status.APPLIED, 60 * 24 * 60), (Status.REJECTED, 30 * 24 * 60)]),
    ("Frontend Developer", "Acme", [(Status.PROCESSING, 200), (Status.READY, 190)]),
    ("QA Engineer", "Soylent", [(Status.PROCESSING, 200), (Status.READY, 185)]),
    ("Intern", "Vandelay", [(Status.DISCARDED, 300)]),
    ("DevOps Engineer", "Stark", []),
    ("Data Analyst", "Wayne", []),
    ("Tech Writer", "Pied Piper", [(Status.PROCESSING, 200), (Status.FAILED, 199)]),
]

CV = "# Jane Doe\n\nSenior engineer.\n\n## Experience\n\n- Built data platforms at Initrode"
LETTER = "Dear Acme team,\n\nI would love to build your **frontend** with you."


@dataclass
class Seeded:
    """Ids of what was seeded, for tests to look up."""

    jobs: dict[str, str] = field(default_factory=dict)  # title -> id
    finished_run: str = "run-finished"
    live_run: str = "run-live"
    failed_run: str = "run-failed"
    flow_run_id: str = "0b7c3f2e-1111-4a4a-9e9e-123456789abc"

    def job(self, title: str) -> str:
        return self.jobs[title]


def _outputs(store: Store, job_id: str, at: datetime) -> None:
    """Every layer's output for one job, shaped like the pipeline's."""
    outputs = {  # the pipeline's schemas: tasks/extract.py ... tasks/publish.py
        "extract": {
            "title": "Frontend Developer",
            "company": "Acme",
            "location": "Berlin",
            "remote_policy": "hybrid",
            "seniority": "senior",
            "skills": ["TypeScript", "React"],
            "requirements": ["5 years of frontend work"],
            "responsibilities": ["Build the design system"],
            "keywords": ["react"],
            "years_experience": 5,
        },
        "research": {
            "company": "Acme",
            "summary": "Acme builds rockets.",
            "industry": "aerospace",
            "signals": ["hiring fast"],
            "sources": [],
        },
        "score": {
            "fit": 82,
            "category": "good",
            "matched_skills": ["React", "TypeScript"],
            "gaps": ["No Svelte experience"],
            "rationale": "Strong React match with the profile.",
        },
        "generate": {
            "cv_markdown": CV,
            "cover_letter_markdown": LETTER,
            "highlighted_skills": ["React"],
            "verification": {"checked": 12, "unsupported": []},
        },
        "publish": {
            "folder": "output/acme-frontend",
            "files": ["output/acme-frontend/cv.md", "output/acme-frontend/cover_letter.md"],
            "coverage": {
                "keywords": ["react", "typescript", "svelte", "graphql"],
                "covered": ["react", "typescript"],
                "left_out": ["graphql"],
                "lacking": ["svelte"],
            },
        },
    }
    for layer, output in outputs.items():
        record = LayerOutput(
            output=output, input_hash=f"h-{layer}", model="offline", cost_usd=0.001, at=at
        )
        store.save_layer_output(job_id, layer, record, fit=82 if layer == "score" else None)


FAILURE = "research layer failed: provider timed out"


def _progress(store: Store, run_id: str, job_id: str, start: datetime, statuses: list[str]) -> None:
    for i, (layer, status) in enumerate(zip(LAYERS, statuses, strict=False)):
        began = start + timedelta(seconds=10 * i)
        done = status in {"completed", "cached", "failed"}
        store.record_progress(
            ProgressRecord(
                run_id=run_id,
                job_id=job_id,
                layer=layer,
                status=ProgressStatus(status),
                started_at=None if status == "pending" else began,
                ended_at=began + timedelta(seconds=2.5) if done else None,
                duration_s=2.5 if done else None,
                cost_usd=0.0012 if status == "completed" else 0.0,
                error=FAILURE if status == "failed" else None,
                updated_at=began,
            )
        )


def _spend(store: Store, s: Seeded, now: datetime, tz: ZoneInfo) -> None:
    """Settled calls at several times (budget scopes + usage ledger) and one open reservation."""
    calls = [
        (60, "openai", "gpt-4o-mini", "extract", "Frontend Developer", 0.004),
        (65, "openai", "gpt-4o-mini", "score", "Frontend Developer", 0.006),
        (70, "anthropic", "claude-3-5-haiku", "generate", "Frontend Developer", 0.02),
        (5 * 60, "openai", "gpt-4o-mini", "extract", "QA Engineer", 0.003),
        (2 * 24 * 60, "openai", "gpt-4o", "generate", "QA Engineer", 0.05),
        (10 * 24 * 60, "anthropic", "claude-3-5-haiku", "research", "Tech Writer", 0.01),
    ]
    for i, (minutes, provider, model, layer, title, cost) in enumerate(calls):
        at = now - timedelta(minutes=minutes)
        job_id = s.job(title)
        scopes = budget_scopes(at, tz, run_id=s.finished_run, job_id=job_id)
        rid = f"res-{i}"
        store.reserve(rid, dict.fromkeys(scopes.values()), cost * 2, at, 600)
        usage = UsageRecord(
            call_id=f"call-{i}",
            run_id=s.finished_run,
            job_id=job_id,
            layer=layer,
            provider=provider,
            model=f"{provider}:{model}",
            input_tokens=1000 + i,
            output_tokens=200 + i,
            cost_usd=cost,
            at=at,
        )
        store.settle(rid, list(scopes.values()), cost, at, usage)
    open_scopes = budget_scopes(now, tz)
    store.reserve("res-open", dict.fromkeys(open_scopes.values()), 0.005, now, 600)


def seed(store: Store, now: datetime, tz: ZoneInfo) -> Seeded:
    """Fill ``store`` as a few days of real use would: jobs, runs, progress, spend, alerts."""
    s = Seeded()
    for i, (title, company, history) in enumerate(JOBS):
        posting = JobPosting(
            source="seed",
            external_id=f"job-{i}",
            url=f"https://jobs.example/{i}",
            title=title,
            company=company,
            location="Remote" if i % 2 else "Berlin",
            description=f"{title} at {company}. Python, SQL and care for users.",
        )
        store.upsert_job(posting, now - timedelta(days=90))
        s.jobs[title] = posting.id
        for status, minutes in history:
            store.set_status(posting.id, status, now - timedelta(minutes=minutes))
    _outputs(store, s.job("Frontend Developer"), now - timedelta(minutes=190))
    store.save_layer_output(
        s.job("QA Engineer"),
        "score",
        LayerOutput(
            output={"fit": 40, "rationale": "Weak match."}, input_hash="q", model="offline", at=now
        ),
        fit=40,
    )
    start = now - timedelta(hours=3)
    store.save_run(
        Run(
            id=s.finished_run,
            flow_run_id=s.flow_run_id,
            started_at=start,
            ended_at=start + timedelta(minutes=5),
            status=RunStatus.COMPLETED,
        )
    )
    for title in ("Frontend Developer", "QA Engineer"):
        _progress(store, s.finished_run, s.job(title), start, ["completed"] * len(LAYERS))
    failed_start = now - timedelta(days=1)
    store.save_run(
        Run(
            id=s.failed_run,
            started_at=failed_start,
            ended_at=failed_start + timedelta(minutes=1),
            status=RunStatus.FAILED,
        )
    )
    _progress(
        store,
        s.failed_run,
        s.job("Tech Writer"),
        failed_start,
        ["completed", "failed", "skipped", "skipped", "skipped"],
    )
    live_start = now - timedelta(minutes=5)
    store.save_run(Run(id=s.live_run, started_at=live_start, status=RunStatus.RUNNING))
    _progress(store, s.live_run, s.job("DevOps Engineer"), live_start, ["completed", "running"])
    _progress(store, s.live_run, s.job("Data Analyst"), live_start, ["pending"])
    _spend(store, s, now, tz)
    store.record_alert(
        Alert(
            key="budget:day", kind="budget", level="warning", message="day budget at 80%", at=now
        ),
        dedup_s=300,
    )
    store.save_breaker_state(
        BreakerState(provider="openai", state="open", fail_count=5, opened_at=now, updated_at=now)
    )
    return s
