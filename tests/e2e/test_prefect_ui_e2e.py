"""The Prefect UI as a user sees it (issue #16 point 7), in real Chromium on the e2e `prefect
server`: the flow run is named by applyflow's run id, its task runs by layer and job, and the
summary artifact reads as a sentence, not a Python dict.

Screenshots go to ``test-artifacts/``; with ``UPDATE_SCREENSHOTS=1`` the run page is copied to
``docs/img/prefect-run.png`` for the README.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import sync_playwright

from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, RAW_PYTHON, screenshot
from tests.e2e._helpers import APPLYFLOW, Workspace

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 60_000


def test_prefect_ui_names_the_run_and_its_tasks_by_job(
    prefect_server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"Debian chromium not found at {CHROMIUM}")
    ws = Workspace(prefect_server, tmp_path_factory.mktemp("ui"))
    job_ids = ws.add_jobs(1, "ui")
    out = prefect_server.run(
        [APPLYFLOW, "run", "--limit", "1", "--min-fit", "0", "--json"], ws.env()
    )
    summary = json.loads(out[out.index("{") :])
    run_id, flow_run_id = summary["run_id"], summary["flow_run_id"]
    task_names = sorted(ws.layer_run_names(job_ids))  # extract · Senior Python Engineer 0 @ ...
    ui = prefect_server.api_url.removesuffix("/api")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui}/runs/flow-run/{flow_run_id}")
            # The UI draws after its API calls: wait for the run named by its id, then its tasks.
            page.get_by_text(run_id, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
            page.get_by_text("Task Runs", exact=True).first.click()
            for name in task_names:
                page.get_by_text(name, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
            screenshot(page, "prefect-run", docs=True)

            page.goto(f"{ui}/artifacts/key/process-jobs-summary")
            sentence = page.get_by_text(f"Run {run_id} completed", exact=False).first
            sentence.wait_for(timeout=UI_TIMEOUT_MS)
            assert "model call(s)" in sentence.inner_text(), sentence.inner_text()
            assert not RAW_PYTHON.search(page.inner_text("body")), page.inner_text("body")
            screenshot(page, "prefect-summary")
        finally:
            browser.close()
