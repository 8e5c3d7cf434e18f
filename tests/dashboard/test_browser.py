"""The dashboard in real headless Chromium, served by `applyflow dashboard` on a seeded store.

Screenshots go to ``test-artifacts/``. To refresh the README's screenshots as well:

    UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/dashboard -m e2e

which copies each page's screenshot to ``docs/img/<page>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from applyflow.models import (
    JobPosting,
    LayerOutput,
    ProgressRecord,
    ProgressStatus,
    Run,
    RunStatus,
    RunWait,
    Status,
    utcnow,
)
from applyflow.settings import LAYERS, load_settings
from applyflow.spend import budget_summary
from applyflow.store.sqlite import SQLiteStore
from guards.health import effective_guards
from tests.dashboard.seed import Seeded, seed
from tests.loopback import free_port
from tests.waiting import wait_for_process

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
# Shown raw, these would mean a page leaked Python instead of words (a repr or a traceback).
RAW_PYTHON = re.compile(r"Traceback \(most recent|object at 0x|\{'|\bNone\b|\bnan\b|datetime\.")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_DEADLINE_S = 90
UI_TIMEOUT_MS = 30_000


def _require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"Debian chromium not found at {CHROMIUM}; install it with `make browser`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@dataclass
class Served:
    base: str
    store: SQLiteStore
    ids: Seeded


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """Poll Streamlit's health route until it answers, the process dies, or the deadline."""

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    what = "the dashboard to answer its health route"
    wait_for_process(healthy, what, proc, log, "dashboard", timeout=START_DEADLINE_S, interval=0.2)


@contextmanager
def _dashboard(work: Path, store_url: str, *args: str, **env_extra: str) -> Iterator[str]:
    """`applyflow dashboard ARGS` on a free port; yields its loopback URL; stopped by PID."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLYFLOW_", "PREFECT_UI"))}
    env |= {
        "APPLYFLOW_STORE_URL": store_url,
        "PREFECT_API_URL": "http://127.0.0.1:4200/api",
        "HOME": str(work),  # Streamlit's per-user files stay in the temp folder
        **env_extra,
    }
    log = work / f"dashboard-{port}.log"
    cli = Path(sys.executable).with_name("applyflow")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(cli), "dashboard", "--port", str(port), *args],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(proc, base, log)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)  # `applyflow dashboard` exec'd Streamlit: same PID
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _live_state(store: SQLiteStore, ids: Seeded) -> None:
    """What the pipeline records beyond the seed: the live run waiting on a rate window, the
    guard settings of the finished run's worker, a run that found nothing to do."""
    now = utcnow()
    store.set_run_waiting(
        ids.live_run, RunWait(kind="rate", since=now - timedelta(seconds=40), detail="openai")
    )
    worker = load_settings(rate_limits={"openai": "60/minute"}, budget_daily_usd=2.0)
    finished = store.get_run(ids.finished_run)
    guards = effective_guards(worker, ["openai"]).model_dump(mode="json")
    store.save_run(finished.model_copy(update={"guards": guards}))
    counts = {"ready": 0, "needs_review": 0, "failed": 0, "over_budget": 0, "new": 0}
    then = now - timedelta(hours=4)
    idle = Run(id="run-idle", started_at=then, ended_at=then, status=RunStatus.COMPLETED,
               summary={"counts": counts, "spend_usd": 0.0})  # fmt: skip
    store.save_run(idle)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The dashboard on loopback over a seeded SQLite store."""
    _require_chromium()
    work = tmp_path_factory.mktemp("dashboard-e2e")
    store = SQLiteStore(f"sqlite:///{work / 'applyflow.db'}")
    try:
        ids = seed(store, utcnow(), UTC)
        _live_state(store, ids)
        # Caps and a follow-up delay that give the screenshots something to show.
        caps = {"APPLYFLOW_BUDGET_DAILY_USD": "0.05", "APPLYFLOW_BUDGET_MONTHLY_USD": "5",
                "APPLYFLOW_FOLLOWUP_DAYS": "2"}  # fmt: skip
        with _dashboard(work, store.url, **caps) as base:
            yield Served(base, store, ids)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    try:
        yield context.new_page()
    finally:
        context.close()


def _cards(page: Page) -> dict[str, str]:
    """The metric cards shown, label -> value, once at least the four counts have rendered."""
    metrics = page.locator('[data-testid="stMetric"]')
    metrics.nth(3).wait_for(timeout=UI_TIMEOUT_MS)
    out = {}
    for i in range(metrics.count()):
        m = metrics.nth(i)
        label = m.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = m.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


def _metric_value(page: Page, label: str) -> Locator:
    """The value of the metric card labelled exactly ``label``."""
    labelled = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    card = page.locator('[data-testid="stMetric"]').filter(has=labelled)
    return card.locator('[data-testid="stMetricValue"]')


def screenshot(page: Page, name: str, *, docs: bool = False) -> Path:
    """A full-page screenshot in test-artifacts/ (and docs/img/ for the README when asked)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / path.name)
    return path


def _settled(page: Page) -> None:
    """Wait until no element is left over (faded) from the previous run of the script."""
    stale = page.locator('[data-testid="stElementContainer"][data-stale="true"]')
    expect(stale).to_have_count(0, timeout=UI_TIMEOUT_MS)


def _assert_clean(page: Page) -> None:
    """No exception box, no raw Python and no Deploy button on the page as drawn."""
    assert page.locator('[data-testid="stException"]').count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert not RAW_PYTHON.search(text), RAW_PYTHON.search(text)
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0


def test_overview_shows_the_four_counts(served: Served, page: Page) -> None:
    page.goto(served.base)
    cards = _cards(page)
    stats = served.store.application_stats(utcnow(), UTC)
    assert [cards[k] for k in ("Today", "This week", "This month", "Total")] == [
        str(stats.today), str(stats.week), str(stats.month), str(stats.total),
    ]  # fmt: skip
    # Spend and what is left, the run in progress (linked), follow-ups: on the first page.
    day = next(
        s for s in budget_summary(load_settings(), served.store, utcnow()) if s.kind == "day"
    )
    assert cards["Spent today"] == f"${day.spent:,.4f}"
    assert cards["Jobs done"] == "0 of 2"  # the seeded live run
    assert "Applications to follow up" in cards
    link = page.get_by_role("link", name=f"Open run {served.ids.live_run}")
    assert link.get_attribute("href") == f"runs?run={served.ids.live_run}"
    # Charts draw after the data arrives: wait for both (funnel, weekly) before the screenshot.
    charts = page.locator('[data-testid="stVegaLiteChart"] :is(canvas, svg.marks)')
    charts.nth(1).wait_for(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("waiting on a rate window (openai)")).to_be_visible()
    _settled(page)
    _assert_clean(page)
    screenshot(page, "overview", docs=True)


def test_marking_applied_in_the_ui_raises_today_and_total(served: Served, page: Page) -> None:
    before = served.store.application_stats(utcnow(), UTC)
    job_id = served.ids.job("QA Engineer")
    page.goto(f"{served.base}/jobs?job={job_id}")
    heading = page.locator("h3.applyflow-heading")
    expect(heading).to_have_text("QA Engineer @ Soylent", timeout=UI_TIMEOUT_MS)
    tab = page.get_by_role("tab", name="Fit")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true", timeout=UI_TIMEOUT_MS)
    page.get_by_role("button", name="Mark applied").click()
    # The confirmation is a toast (beside the buttons whatever the scroll), the tab stays open.
    toast = page.locator('[data-testid="stToast"]')
    expect(toast).to_contain_text("applied (applied", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("tab", name="Fit")).to_have_attribute("aria-selected", "true")
    screenshot(page, "jobs-marked")
    job = served.store.get_job(job_id)
    assert job.status == Status.APPLIED and job.applied_at is not None
    page.get_by_role("link", name="Overview").click()
    today, total = _metric_value(page, "Today"), _metric_value(page, "Total")
    expect(today).to_have_text(str(before.today + 1), timeout=UI_TIMEOUT_MS)
    expect(total).to_have_text(str(before.total + 1), timeout=UI_TIMEOUT_MS)


def test_runs_page_shows_every_layer_completed(served: Served, page: Page) -> None:
    page.goto(f"{served.base}/runs?run={served.ids.finished_run}")
    table = page.locator('[data-testid="stTable"] table')
    table.wait_for(timeout=UI_TIMEOUT_MS)
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert headers[-len(LAYERS) :] == list(LAYERS)
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        assert len(cells) == len(LAYERS)
        assert all("completed" in c for c in cells), cells
    bar = page.locator('[data-testid="stProgress"]')
    assert "10 of 10 layer tasks finished" in bar.inner_text()
    link = page.get_by_role("link", name="Open in Prefect UI")
    assert (
        link.get_attribute("href")
        == f"http://127.0.0.1:4200/runs/flow-run/{served.ids.flow_run_id}"
    )
    _assert_clean(page)
    screenshot(page, "runs")


def test_runs_page_follows_a_running_run_without_reload(served: Served, page: Page) -> None:
    run_id = served.ids.live_run
    page.goto(f"{served.base}/runs?run={run_id}")
    bar = page.locator('[data-testid="stProgress"]')
    expect(bar).to_contain_text("1 of 10 layer tasks finished", timeout=UI_TIMEOUT_MS)
    # The pipeline finishes another layer while the page stays open.
    served.store.record_progress(
        ProgressRecord(
            run_id=run_id,
            job_id=served.ids.job("Data Analyst"),
            layer="extract",
            status=ProgressStatus.COMPLETED,
            started_at=utcnow(),
            ended_at=utcnow(),
            duration_s=1.0,
        )
    )
    expect(bar).to_contain_text("2 of 10 layer tasks finished", timeout=UI_TIMEOUT_MS)


@pytest.mark.parametrize(
    ("path", "title", "ready"),
    [
        ("", "Overview", '[data-testid="stVegaLiteChart"] :is(canvas, svg.marks)'),
        ("runs", "Runs", '[data-testid="stTable"]'),
        ("spend", "Spend", '[data-testid="stVegaLiteChart"] :is(canvas, svg.marks)'),
        ("jobs", "Jobs", '[data-testid="stButton"]'),
        ("health", "Health", '[data-testid="stTable"]'),
    ],
)
def test_every_page_is_titled_and_clean(
    served: Served, page: Page, path: str, title: str, ready: str
) -> None:
    page.goto(f"{served.base}/{path}")
    page.locator(ready).last.wait_for(timeout=UI_TIMEOUT_MS)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=UI_TIMEOUT_MS)
    expect(page).to_have_title(f"{title} · applyflow", timeout=UI_TIMEOUT_MS)
    assert page.locator("h1").first.inner_text().strip() == title
    _settled(page)
    _assert_clean(page)
    if path:  # the README's Runs and Jobs pictures are the live run's and a published job's
        screenshot(page, path, docs=path not in ("runs", "jobs"))


def test_runs_page_lists_counts_hides_idle_runs_and_shows_the_wait(
    served: Served, page: Page
) -> None:
    page.goto(f"{served.base}/runs?run={served.ids.live_run}")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="waiting on a rate window")
    expect(warning).to_contain_text("(openai) for", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("1 run(s) that took no job hidden.")).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=UI_TIMEOUT_MS)
    for name in ("Jobs", "Ready", "Failed", "Skipped", "Spend", "Duration", "Prefect run"):
        heading = grid.locator('[role="columnheader"]').filter(has_text=name)
        expect(heading.first).to_be_attached(timeout=UI_TIMEOUT_MS)
    page.get_by_text("Show runs that took no job").click()
    expect(page.get_by_text("1 run(s) that took no job hidden.")).to_have_count(0)
    _settled(page)
    _assert_clean(page)
    screenshot(page, "runs-live", docs=True)


def test_jobs_page_downloads_the_published_pdf(served: Served, page: Page, tmp_path: Path) -> None:
    job_id = served.ids.job("Data Analyst")  # not opened before: nothing of it is cached
    pdf = tmp_path / "cv.pdf"
    pdf.write_bytes(b"%PDF-1.7 the e2e cv")
    docx = tmp_path / "cv.docx"
    docx.write_bytes(b"PK e2e docx")
    coverage = {"keywords": ["sql", "python", "tableau"], "covered": ["sql", "python"],
                "left_out": [], "lacking": ["tableau"]}  # fmt: skip
    publish = LayerOutput(
        output={"files": [str(pdf), str(docx)], "coverage": coverage},
        input_hash="e2e", model="offline", at=utcnow(),
    )  # fmt: skip
    check = LayerOutput(
        output={"cv_markdown": "# CV", "verification": {"checked": 12, "unsupported": []}},
        input_hash="e2e", model="offline", at=utcnow(),
    )  # fmt: skip
    served.store.save_layer_output(job_id, "generate", check)
    served.store.save_layer_output(job_id, "publish", publish)
    page.goto(f"{served.base}/jobs?job={job_id}")
    button = page.get_by_role("button", name="cv (PDF)")
    button.wait_for(timeout=UI_TIMEOUT_MS)
    with page.expect_download(timeout=UI_TIMEOUT_MS) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "cv.pdf"
    assert Path(download.path()).read_bytes() == pdf.read_bytes()
    expect(page.get_by_role("button", name="cv (DOCX)")).to_be_visible()
    page.get_by_role("tab", name="Checks").click()
    expect(page.get_by_text("All 12 facts checked are in the profile.")).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_text("Not in the profile: tableau")).to_be_visible()
    _settled(page)
    _assert_clean(page)
    screenshot(page, "jobs", docs=True)


def test_spend_forecast_takes_any_typed_model(served: Served, page: Page) -> None:
    page.goto(f"{served.base}/spend")
    box = page.get_by_role("combobox", name="Forecast on model")
    box.wait_for(timeout=UI_TIMEOUT_MS)
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Queue on openai:gpt-4o-mini")
    expect(metric).to_have_count(1, timeout=UI_TIMEOUT_MS)
    box.click()
    box.fill("acme:no-such-model")
    box.press("Enter")
    error = page.locator('[data-testid="stAlert"]').filter(has_text="Cannot forecast on")
    expect(error).to_contain_text("acme:no-such-model", timeout=UI_TIMEOUT_MS)
    expect(error).to_contain_text("no known price")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_public_server_asks_for_the_password_even_on_a_deep_link(
    served: Served, page: Page, tmp_path: Path
) -> None:
    # A fresh server's first request is for /spend: the gate must still come first.
    secret = "e2e-correct-horse"
    with _dashboard(
        tmp_path, served.store.url, "--host", "0.0.0.0", APPLYFLOW_DASHBOARD_PASSWORD=secret
    ) as base:
        page.goto(f"{base}/spend")
        password = page.get_by_label("Password", exact=True)
        password.wait_for(timeout=UI_TIMEOUT_MS)
        assert page.get_by_text("Budget scopes").count() == 0
        password.fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Wrong password.").wait_for(timeout=UI_TIMEOUT_MS)
        assert page.locator('[data-testid="stTable"]').count() == 0
        page.get_by_label("Password", exact=True).fill(secret)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Budget scopes").wait_for(timeout=UI_TIMEOUT_MS)
        assert secret not in page.content()
        screenshot(page, "spend-after-login")


def test_posting_text_is_shown_literally_not_as_markdown(served: Served, page: Page) -> None:
    # Postings come from job boards: a title must not become a link or a remote image.
    title = (
        "Evil [click me](http://evil.example/x) ![p](https://evil.example/p.png) www.evil.example"
    )
    posting = JobPosting(
        source="e2e", external_id="evil", title=title, company="Mallory", description="Hi."
    )
    served.store.upsert_job(posting, utcnow())
    page.goto(f"{served.base}/jobs?job={posting.id}")
    heading = page.locator("h3.applyflow-heading")
    expect(heading).to_have_text(f"{title} @ Mallory", timeout=UI_TIMEOUT_MS)
    assert page.locator('a[href*="evil"]').count() == 0
    assert page.locator('img[src*="evil"]').count() == 0
