"""Every dashboard page on a seeded store (SQLite and mongomock): shown numbers = store numbers."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Metric

from applyflow.models import LayerOutput, ProfileRef, Run, RunStatus, RunWait, Status, UsageRecord
from applyflow.periods import budget_scopes
from applyflow.settings import LAYERS, load_settings
from applyflow.spend import budget_summary
from applyflow.stats import funnel
from applyflow.store import Store
from applyflow.tracking import followups
from dashboard import data, ui
from guards.pricing import cost_usd
from tests.dashboard.conftest import NOW
from tests.dashboard.seed import CV, FAILURE, LETTER, Seeded

Opener = Callable[..., AppTest]
SeededStore = tuple[Store, Seeded]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first ``st.dataframe`` shown with all of ``columns``."""
    for element in at.dataframe:
        df = element.value
        if set(columns) <= set(df.columns):
            return df
    raise AssertionError(f"no dataframe with columns {columns}")


def _badges(at: AppTest) -> list[tuple[str, str]]:
    """(colour, label) of each ``st.badge`` shown (Streamlit draws them as Markdown)."""
    return [
        (found[1], found[2])
        for m in at.markdown
        if (found := re.fullmatch(r"(?:.*\s)?:(\w+)-badge\[(.*)\]", m.value.strip()))
    ]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(parts)


def ui_colour(state: str) -> int:
    """The metric proto's colour number for a budget state's colour."""
    colours = MetricProto.DESCRIPTOR.fields_by_name["color"].enum_type.values_by_name
    return colours[ui.STATE_COLOURS[state].upper()].number


def _metric(at: AppTest, label: str) -> Metric:
    return next(m for m in at.metric if m.label == label)


def test_overview_cards_funnel_and_weeks_equal_store_stats(
    seeded: SeededStore, open_app: Opener
) -> None:
    store, _ = seeded
    at = open_app()
    stats = store.application_stats(NOW, UTC)
    assert stats.model_dump() == {"today": 2, "week": 3, "month": 4, "total": 5}  # the seed
    shown = _metrics(at)
    assert [shown[k] for k in ("Today", "This week", "This month", "Total")] == [
        str(stats.today), str(stats.week), str(stats.month), str(stats.total),
    ]  # fmt: skip
    # Each count against the same window one period earlier, not a share of the total.
    earlier = {
        "Today": store.application_stats(NOW - timedelta(days=1), UTC).today,
        "This week": store.application_stats(NOW - timedelta(days=7), UTC).week,
        "This month": store.application_stats(NOW - timedelta(days=30), UTC).month,
    }
    assert earlier == {"Today": 0, "This week": 0, "This month": 1}  # the seed: 60 days ago
    for label, count in (("Today", 2), ("This week", 3), ("This month", 4)):
        metric = _metric(at, label)
        assert metric.delta == str(count - earlier[label])
        assert metric.proto.delta_description.startswith("vs ")
    total = _metric(at, "Total")
    assert (total.delta, total.proto.delta_description) == ("4", "in the last 30 days")
    assert not at.get("progress"), "no '% of total' bars any more"
    expected_funnel = funnel(store.status_counts())
    table = _frame(at, "stage", "jobs")
    assert dict(zip(table["stage"], table["jobs"], strict=True)) == expected_funnel
    assert shown["Rejected"] == str(expected_funnel["rejected"])
    assert shown["Discarded"] == str(expected_funnel["discarded"])
    weekly = _frame(at, "week", "applications")
    expected_weeks = store.weekly_applications(NOW, UTC, weeks=12)
    assert list(weekly["applications"]) == [w.count for w in expected_weeks]
    assert len(weekly) == 12
    assert not at.error


def test_overview_answers_spend_live_run_and_followups(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = seeded
    monkeypatch.setenv("APPLYFLOW_FOLLOWUP_DAYS", "2")  # the seed's 3-day-old application is due
    store.set_run_waiting(
        ids.live_run,
        RunWait(kind="rate", since=NOW - timedelta(seconds=42), detail="openai 60 requests/minute"),
    )
    at = open_app()
    scopes = {s.kind: s for s in budget_summary(load_settings(), store, NOW)}
    today, month = _metric(at, "Spent today"), _metric(at, "Spent this month")
    day = scopes["day"]  # the seed: $0.038 spent of a $0.045 daily cap
    assert today.value == f"${day.spent:,.4f}"
    assert today.delta == f"{day.state} · ${day.remaining:,.4f} left of $0.0450"
    assert today.proto.color == ui_colour(day.state)
    assert month.value == f"${scopes['month'].spent:,.4f}"
    assert month.delta.endswith("no cap") or "left of" in month.delta
    # The run in progress: none of its 2 jobs done, its progress rows' spend, what it waits on.
    assert _metrics(at)["Jobs done"] == "0 of 2"
    live_spend = sum(r.cost_usd for r in store.list_progress(ids.live_run))
    assert _metrics(at)["Spend so far"] == f"${live_spend:,.4f}"
    assert [w.value for w in at.warning] == [
        "waiting on a rate window (openai 60 requests/minute) for 42 s"
    ]
    link = next(p for p in at.get("page_link") if p.proto.label.startswith("Open run"))
    assert link.proto.page.endswith("runs") and f"run={ids.live_run}" in link.proto.query_string
    due = followups(store, NOW, load_settings().followup_days)
    assert _metrics(at)["Applications to follow up"] == str(len(due))
    assert [d.title for d in due] == ["Backend Developer"]
    assert any("Backend Developer @ Initech" in c.value for c in at.caption)
    assert not at.error


def test_runs_page_shows_grid_progress_and_prefect_link(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = seeded
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    at = open_app("runs")
    runs = _frame(at, "run", "prefect")
    assert list(runs["run"]) == [r.id for r in store.list_runs()]
    # Newest first: the live run is selected; 1 of its 2 jobs x 5 layers has finished.
    assert at.selectbox(key="run_pick").value == ids.live_run
    assert at.get("progress")[0].value == 10
    assert "1 of 10 layer tasks finished" in at.get("progress")[0].text
    assert any("refreshing every" in c.value for c in at.caption)
    at.selectbox(key="run_pick").set_value(ids.finished_run).run()
    assert not at.exception
    grid = at.table[0].value
    assert list(grid.columns) == list(LAYERS)
    assert len(grid) == 2
    assert all(str(cell).startswith("completed · ") for cell in grid.to_numpy().ravel())
    assert at.get("progress")[0].value == 100
    expected_cost = sum(r.cost_usd for r in store.list_progress(ids.finished_run))
    assert _metrics(at)["Cost"] == f"${expected_cost:,.4f}"
    link = at.link_button[0]
    assert link.proto.url == f"http://127.0.0.1:4200/runs/flow-run/{ids.flow_run_id}"
    assert not at.error


def test_runs_list_counts_jobs_hides_idle_runs_and_names_the_prefect_run(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ids = seeded
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    counts = {"ready": 0, "needs_review": 0, "failed": 0, "over_budget": 0, "new": 0}
    idle = Run(
        id="run-idle", started_at=NOW - timedelta(minutes=30),
        ended_at=NOW - timedelta(minutes=29), status=RunStatus.COMPLETED,
        summary={"counts": counts, "spend_usd": 0.0},
    )  # fmt: skip
    stopped = Run(
        id="run-stopped", flow_run_id="f-2", flow_run_name="premium-centipede",
        profile=ProfileRef(path="/home/ana/profile.md", sha256="ab12" * 16),
        started_at=NOW - timedelta(hours=2),
        ended_at=NOW - timedelta(hours=2) + timedelta(seconds=90), status=RunStatus.STOPPED,
        summary={"counts": counts | {"ready": 3, "failed": 1, "new": 2, "skipped": 1},
                 "spend_usd": 0.0123,
                 "stop_reason": "openai circuit breaker is open"},
    )  # fmt: skip
    dry = Run(
        id="run-dry", started_at=NOW - timedelta(hours=1), ended_at=NOW - timedelta(minutes=59),
        status=RunStatus.COMPLETED, params={"dry_run": True, "price_as": "openai:gpt-4o"},
        summary={"counts": counts | {"ready": 2}, "spend_usd": 0.0, "forecast_usd": 0.0421},
    )  # fmt: skip
    store.save_run(idle)
    store.save_run(stopped)
    store.save_run(dry)
    store.set_run_waiting(
        ids.live_run, RunWait(kind="slot", since=NOW - timedelta(minutes=3), detail="openai")
    )
    at = open_app("runs")
    runs = _frame(at, "run", "jobs").set_index("run")
    assert "run-idle" not in runs.index, "a run that took no job is hidden by default"
    assert any("1 run(s) that took no job hidden" in c.value for c in at.caption)
    row = runs.loc["run-stopped"]
    assert (row["jobs"], row["ready"], row["failed"], row["skipped"]) == (7, 3, 1, 1)
    assert row["spend_usd"] == pytest.approx(0.0123) and row["duration_s"] == 90
    assert row["note"] == "openai circuit breaker is open"
    assert row["prefect"] == "http://127.0.0.1:4200/runs/flow-run/f-2#premium-centipede"
    assert runs.loc[ids.finished_run, "prefect"].endswith("#0b7c3f2e")  # no name: the id's
    assert runs.loc["run-dry", "note"] == "dry run (no spend) · forecast $0.0421 on openai:gpt-4o"
    finished = runs.loc[ids.finished_run]  # counted from its progress rows (no summary)
    assert (finished["jobs"], finished["ready"], finished["failed"]) == (2, 2, 0)
    assert finished["note"] == "", "a blank cell, not None"
    assert runs.loc[ids.failed_run, "failed"] == 1
    live = runs.loc[ids.live_run]
    assert live["note"] == "waiting on a Prefect slot (openai) for 3 min"
    assert live["duration_s"] == 5 * 60  # running: up to now
    config = _column_labels(at, "prefect", "spend_usd")
    assert config["prefect"]["type_config"]["display_text"] == data.FLOW_RUN_NAME_PATTERN
    assert config["spend_usd"]["type_config"]["format"] == "$%.4f"
    at.toggle(key="runs_idle").set_value(True).run()
    assert "run-idle" in set(_frame(at, "run", "jobs")["run"])
    # A run's page: its Prefect name on the link, the profile it read, why it stopped.
    at.selectbox(key="run_pick").set_value("run-stopped").run()
    assert at.link_button[0].proto.label == "Open premium-centipede in Prefect UI"
    assert at.link_button[0].proto.url == "http://127.0.0.1:4200/runs/flow-run/f-2"
    captions = [c.value for c in at.caption]
    assert f"Profile `` /home/ana/profile.md `` (sha256 `{'ab12' * 3}`)" in captions
    assert "Stopped: openai circuit breaker is open" in captions
    # The live run's page says what it waits on.
    at.selectbox(key="run_pick").set_value(ids.live_run).run()
    assert "waiting on a Prefect slot (openai) for 3 min" in [w.value for w in at.warning]
    assert not at.error


def test_flow_run_links_carry_the_name_the_table_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    url = data.flow_run_link("abc", "premium-centipede")
    assert url == "http://127.0.0.1:4200/runs/flow-run/abc#premium-centipede"
    assert re.match(data.FLOW_RUN_NAME_PATTERN, url).group(1) == "premium-centipede"
    unnamed = data.flow_run_link("0b7c3f2e-1111-4a4a", None)
    assert re.match(data.FLOW_RUN_NAME_PATTERN, unnamed).group(1) == "0b7c3f2e"
    assert data.flow_run_link(None, "x") is None


def test_runs_page_shows_a_failed_layer_and_its_error(
    seeded: SeededStore, open_app: Opener
) -> None:
    _, ids = seeded
    at = open_app("runs")
    at.selectbox(key="run_pick").set_value(ids.failed_run).run()
    assert not at.exception
    row = at.table[0].value.iloc[0]
    assert row["extract"].startswith("completed · ")
    assert row["research"].startswith("failed · ")
    assert all(row[layer].startswith("skipped · ") for layer in ("score", "generate", "publish"))
    assert _metrics(at)["Failed layers"] == "1"
    errors = _frame(at, "layer", "error")
    assert list(errors["error"]) == [FAILURE]
    assert at.get("progress")[0].value == 100  # a failed run still finished every layer task


def test_runs_page_marks_a_run_whose_process_died_crashed(
    seeded: SeededStore, open_app: Opener
) -> None:
    store, ids = seeded
    silent_since = NOW - timedelta(hours=1)  # past the 15-minute claim lease
    store.save_run(Run(id="run-dead", started_at=silent_since, heartbeat_at=silent_since))
    at = open_app("runs")
    at.toggle(key="runs_idle").set_value(True).run()  # it died before taking a job
    runs = _frame(at, "run", "status").set_index("run")["status"]
    assert runs["run-dead"] == "crashed"
    assert runs[ids.live_run] == "running"  # its heartbeat is recent (its start, minutes ago)
    dead = store.get_run("run-dead")
    assert (dead.status, dead.ended_at) == (RunStatus.CRASHED, silent_since)
    assert not at.error


def test_runs_page_without_prefect_has_no_link(seeded: SeededStore, open_app: Opener) -> None:
    _, ids = seeded
    at = open_app("runs")
    at.selectbox(key="run_pick").set_value(ids.finished_run).run()
    assert len(at.link_button) == 0


def _free_call(store: Store, job_id: str) -> None:
    """A $0 offline call for ``job_id``: tokens used, nothing spent."""
    scopes = budget_scopes(NOW, UTC, job_id=job_id)
    store.reserve("res-free", dict.fromkeys(scopes.values()), 0.0, NOW, 600)
    usage = UsageRecord(
        call_id="call-free", job_id=job_id, layer="extract", provider="offline",
        model="offline", input_tokens=500, output_tokens=100, cost_usd=0.0, at=NOW,
    )  # fmt: skip
    store.settle("res-free", list(scopes.values()), 0.0, NOW, usage)


def _column_labels(at: AppTest, *columns: str) -> dict[str, dict[str, object]]:
    """The column config (label, format...) of the first dataframe showing ``columns``."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            config = json.loads(element.proto.columns)
            return {name: config.get(name, {}) for name in columns}
    raise AssertionError(f"no dataframe with columns {columns}")


def test_spend_page_scopes_breakdown_and_forecast_equal_store(
    seeded: SeededStore, open_app: Opener
) -> None:
    store, ids = seeded
    _free_call(store, ids.job("DevOps Engineer"))
    at = open_app("spend")
    settings = load_settings()
    expected = budget_summary(settings, store, NOW)
    scopes = at.table[0].value
    assert list(scopes.index) == [s.key for s in expected]
    for scope in expected:
        row = scopes.loc[scope.key]
        assert row["spent"] == f"${scope.spent:,.4f}"
        assert row["reserved"] == f"${scope.reserved:,.4f}"
        assert row["state"] == scope.state
    day = next(s for s in expected if s.kind == "day")
    assert day.state in {"warning", "critical", "exceeded"}  # the seed: $0.038 of $0.045
    for field in ("provider", "model", "layer"):
        shown = _frame(at, field, "calls")
        groups = store.spend_by(field)
        assert list(shown[field]) == [g.key for g in groups]
        assert list(shown["cost_usd"]) == pytest.approx([g.cost_usd for g in groups])
    # Readable headings, money as money.
    config = _column_labels(at, "provider", "input_tokens", "cost_usd")
    assert config["input_tokens"]["label"] == "Input tokens"
    assert (config["cost_usd"]["label"], config["cost_usd"]["type_config"]["format"]) == (
        "Cost", "$%.4f",
    )  # fmt: skip
    expensive = _frame(at, "job_id", "title")
    by_job = [g for g in store.spend_by("job_id") if g.key]
    costly = [g for g in by_job if g.cost_usd > 0]
    assert len(costly) == len(by_job) - 1  # the $0 DevOps call is not "expensive"
    assert list(expensive["job_id"]) == [g.key for g in costly][:10]
    assert ids.job("DevOps Engineer") not in set(expensive["job_id"])
    assert expensive["title"].iloc[0] == store.get_job(costly[0].key).title
    # The forecast, on the default paid model (the configured one is offline) at the average
    # tokens per job; the recorded-cost figure beside it.
    model = at.selectbox(key="forecast_model").value
    assert model == "openai:gpt-4o-mini"
    shown = _metrics(at)
    queue = store.status_counts()["new"]
    tokens_in = round(sum(g.input_tokens for g in by_job) / len(by_job))
    tokens_out = round(sum(g.output_tokens for g in by_job) / len(by_job))
    per_job = cost_usd(settings, model, tokens_in, tokens_out)
    assert shown["New jobs in the queue"] == str(queue)
    assert shown[f"Per job on {model}"] == f"${per_job:,.4f}"
    assert shown[f"Queue on {model}"] == f"${queue * per_job:,.4f}"
    average = sum(g.cost_usd for g in by_job) / len(by_job)
    assert shown["Average cost per job"] == f"${average:,.4f}"
    assert any(f"${queue * average:,.4f}" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2  # daily and hourly: the seed spent in both
    other = "anthropic:claude-3-5-haiku-latest"
    at.selectbox(key="forecast_model").set_value(other).run()
    per_job = cost_usd(settings, other, tokens_in, tokens_out)
    assert per_job > 0
    assert _metrics(at)[f"Queue on {other}"] == f"${queue * per_job:,.4f}"
    assert not at.error


def test_jobs_page_filters_and_detail(seeded: SeededStore, open_app: Opener) -> None:
    store, ids = seeded
    at = open_app("jobs")
    table = _frame(at, "id", "fit")
    assert sorted(table["id"]) == sorted(j.id for j in store.list_jobs())
    at.multiselect(key="f_status").set_value(["ready"]).run()
    table = _frame(at, "id", "fit")
    assert sorted(table["id"]) == sorted(j.id for j in store.list_jobs(status=Status.READY))
    at.number_input(key="f_fit").set_value(50).run()
    table = _frame(at, "id", "fit")
    assert list(table["id"]) == [ids.job("Frontend Developer")]
    at.multiselect(key="f_status").set_value([]).run()
    at.number_input(key="f_fit").set_value(0).run()
    at.text_input(key="f_company").set_value("acme").run()
    assert set(_frame(at, "id", "fit")["company"]) == {"Acme"}
    at.text_input(key="f_company").set_value("").run()
    at.text_input(key="f_text").set_value("reliability").run()
    assert list(_frame(at, "id", "fit")["title"]) == ["Site Reliability Engineer"]
    at.text_input(key="f_text").set_value("no such words").run()
    assert "No job matches these filters." in [i.value for i in at.info]


def test_jobs_page_renders_layer_outputs(seeded: SeededStore, open_app: Opener) -> None:
    _, ids = seeded
    at = open_app("jobs")
    at.selectbox(key="job_pick").set_value(ids.job("Frontend Developer")).run()
    assert not at.exception
    extracted = at.table[0].value
    assert extracted.loc["skills", "value"] == "TypeScript, React"
    text = _texts(at)
    assert "Strong React match with the profile." in text
    assert "- No Svelte experience" in text
    assert "- React" in text  # matched skills
    assert CV in text and LETTER in text
    assert "Highlighted skills: React" in text
    assert "`output/acme-frontend/cv.md`" in text
    assert _metrics(at)["Fit"] == "82/100"
    assert _badges(at) == [("green", "good")]
    # The checks: every fact in the profile, half the posting's keywords covered.
    assert any("All 12 facts checked are in the profile." in s.value for s in at.success)
    assert _metrics(at)["Posting keywords the CV covers"] == "50%"
    assert "In the profile, left out of the CV: graphql" in text
    assert "Not in the profile: svelte" in text
    # Its files were written by a worker elsewhere: no download, and it says so.
    assert not at.get("download_button")
    assert any("Not found on this machine" in c.value for c in at.caption)


def test_jobs_page_omits_empty_fields_and_scales_the_fit_colour(
    seeded: SeededStore, open_app: Opener
) -> None:
    store, ids = seeded
    job_id = ids.job("QA Engineer")  # scored 40, no location? the seed gives one: drop it
    extract = {"title": "QA Engineer", "company": "Soylent", "location": None, "skills": [],
               "seniority": "", "remote_policy": "remote"}  # fmt: skip
    store.save_layer_output(
        job_id, "extract",
        LayerOutput(output=extract, input_hash="e", model="offline", at=NOW),
    )  # fmt: skip
    at = open_app("jobs")
    at.selectbox(key="job_pick").set_value(job_id).run()
    extracted = at.table[0].value
    assert list(extracted.index) == ["title", "company", "remote policy"]
    assert "None" not in _texts(at)
    assert [colour for colour, _ in _badges(at)] == ["orange"]  # fit 40: low, not yet red
    table = _frame(at, "id", "fit")
    config = _column_labels(at, "id", "fit")["fit"]
    assert config["type_config"]["color"] == "auto"  # red below half, green above
    assert None not in set(table["location"])


def test_jobs_page_downloads_the_published_files_and_lists_unsupported_claims(
    seeded: SeededStore, open_app: Opener, tmp_path: Path
) -> None:
    store, ids = seeded
    job_id = ids.job("Tech Writer")
    folder = tmp_path / "out" / "tech-writer"
    folder.mkdir(parents=True)
    bodies = {
        "cv.pdf": b"%PDF-1.7 cv", "cover_letter.pdf": b"%PDF-1.7 letter",
        "cv.docx": b"PK docx cv", "cover_letter.docx": b"PK docx letter",
        "cv.md": b"# CV", "cover_letter.md": b"Dear team", "dossier.md": b"# Dossier",
    }  # fmt: skip
    for name, body in bodies.items():
        (folder / name).write_bytes(body)
    claims = [{"kind": "employer", "text": "Globex Corp", "document": "cv"},
              {"kind": "number", "text": "40%", "document": "cover_letter"}]  # fmt: skip
    for layer, output in (
        (
            "generate",
            {"cv_markdown": "# CV", "verification": {"checked": 9, "unsupported": claims}},
        ),
        ("publish", {"files": [str(folder / n) for n in bodies]}),
    ):
        store.save_layer_output(
            job_id, layer, LayerOutput(output=output, input_hash=layer, model="offline", at=NOW)
        )
    at = open_app("jobs")
    at.selectbox(key="job_pick").set_value(job_id).run()
    buttons = at.get("download_button")
    shown = {b.proto.label: b.proto for b in buttons}
    assert list(shown) == [
        "cover letter (PDF)", "cv (PDF)", "cover letter (DOCX)", "cv (DOCX)",
        "cover letter (Markdown)", "cv (Markdown)", "dossier (Markdown)",
    ]  # fmt: skip
    # Each is served under its type's extension (its MIME type); the bytes: test_browser.py.
    assert shown["cv (PDF)"].url.endswith(".pdf")
    assert shown["cv (DOCX)"].url.endswith(".docx")
    assert shown["dossier (Markdown)"].url.endswith(".md")
    warning = next(w.value for w in at.warning if "not in the profile" in w.value)
    assert warning.startswith("2 of 9 facts are not in the profile")
    unsupported = _frame(at, "document", "claim")
    assert list(unsupported["claim"]) == ["Globex Corp", "40%"]
    assert list(unsupported["document"]) == ["cv", "cover letter"]


def test_marking_applied_writes_the_store_and_raises_today(
    seeded: SeededStore, open_app: Opener
) -> None:
    store, ids = seeded
    before = store.application_stats(NOW, UTC)
    at = open_app("jobs")
    job_id = ids.job("QA Engineer")
    at.selectbox(key="job_pick").set_value(job_id).run()
    at.button(key="mark_applied").click().run()
    assert not at.exception and not at.error
    job = store.get_job(job_id)
    assert job.status == Status.APPLIED and job.applied_at == NOW
    # A toast (beside the buttons, wherever the page is scrolled), not a banner at the top.
    assert any("Marked `` QA Engineer `` applied" in t.value for t in at.toast)
    assert not at.success
    at.switch_page("views/overview.py").run()
    shown = _metrics(at)
    assert shown["Today"] == str(before.today + 1)
    assert shown["Total"] == str(before.total + 1)


def test_invalid_transition_is_an_error_not_a_change(seeded: SeededStore, open_app: Opener) -> None:
    store, ids = seeded
    at = open_app("jobs")
    job_id = ids.job("DevOps Engineer")  # new -> interview is not allowed
    at.selectbox(key="job_pick").set_value(job_id).run()
    at.button(key="mark_interview").click().run()
    assert not at.exception
    assert any("cannot change status from 'new' to 'interview'" in e.value for e in at.error)
    assert store.get_job(job_id).status == Status.NEW


def test_health_page_store_prefect_providers_alerts(seeded: SeededStore, open_app: Opener) -> None:
    store, _ = seeded
    at = open_app("health")
    shown = _metrics(at)
    assert shown["Store ping"].endswith(" ms")
    assert any("PREFECT_API_URL is not set" in i.value for i in at.info)
    alerts = _frame(at, "message")
    assert list(alerts["message"]) == [a.message for a in store.list_alerts(limit=20)]
    breakers = _frame(at, "fail_count")
    assert list(breakers["state"]) == [b.state for b in store.breaker_states()]
    expected = {s.kind: s.state for s in budget_summary(load_settings(), store, NOW)}
    assert {k.lower(): v for k, v in shown.items() if k.lower() in expected} == expected
    assert not at.error


def test_health_page_reports_unreachable_prefect(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch, unused_port: int
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{unused_port}/api")
    at = open_app("health")
    assert any("Not reachable" in e.value and "make server" in e.value for e in at.error)


def test_health_page_reports_reachable_prefect(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch, health_server: str
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", f"{health_server}/api")
    at = open_app("health")
    assert any(s.value.startswith("Reachable: 127.0.0.1") for s in at.success)
    assert at.link_button[0].proto.url == health_server


def test_health_page_says_when_the_provider_report_is_unavailable(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "guards.health", None)  # import fails as if not installed
    at = open_app("health")
    assert not at.exception
    assert any("Provider guard report unavailable" in w.value for w in at.warning)
    assert _frame(at, "fail_count") is not None  # breakers still come from the store


def test_health_page_shows_each_providers_guards(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guards.health import provider_health

    store, _ = seeded
    monkeypatch.setenv("APPLYFLOW_MODEL", "openai:gpt-4o-mini")
    monkeypatch.setenv(
        "APPLYFLOW_LAYER_MODELS", '{"generate": "anthropic:claude-3-5-haiku-latest"}'
    )
    monkeypatch.setenv("APPLYFLOW_RATE_LIMITS", '{"openai": "500/minute"}')
    monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "memory://")
    at = open_app("health")
    shown = _frame(at, "provider", "rate_windows").set_index("provider")
    expected = {
        r.provider: r for r in provider_health(load_settings(), store, ["anthropic", "openai"])
    }
    assert sorted(shown.index) == ["anthropic", "openai"]
    openai = shown.loc["openai"]
    assert openai["breaker"] == expected["openai"].breaker.state == "open"  # the seed
    assert openai["failures"] == 5
    (window,) = expected["openai"].rate
    assert openai["rate_windows"] == f"{window.limit}: {window.remaining} left"
    assert shown.loc["anthropic", "breaker"] == "closed"
    assert shown.loc["anthropic", "rate_windows"] == "; ".join(
        f"{w.limit}: {w.remaining} left" for w in expected["anthropic"].rate
    )
    assert shown.loc["openai", "budget"].startswith(expected["openai"].budget.state)


def test_health_page_shows_the_guards_the_workers_use_beside_its_own(
    seeded: SeededStore, open_app: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guards.health import effective_guards

    store, _ = seeded
    monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "memory://")
    worker = load_settings(
        rate_limits={"openai": "7/minute"}, budget_daily_usd=3.5, store_url=store.url
    )
    store.save_run(
        Run(
            id="run-worker", started_at=NOW - timedelta(minutes=1), status=RunStatus.COMPLETED,
            ended_at=NOW, guards=effective_guards(worker, ["openai"]).model_dump(mode="json"),
        )
    )  # fmt: skip
    at = open_app("health")
    table = next(t.value for t in at.table if "this dashboard" in t.value.columns)
    assert table.loc["openai: requests", "workers (latest run)"] == "7 per 1 minute"
    assert table.loc["openai: requests", "this dashboard"] == "500 per 1 minute"  # the default
    assert table.loc["Daily cap", "workers (latest run)"] == "$3.50"
    assert table.loc["Daily cap", "this dashboard"] == "$0.0450"  # the test env's cap
    assert (
        table.loc["Total cap", "workers (latest run)"] == table.loc["Total cap", "this dashboard"]
    )
    assert any("run-worker" in c.value for c in at.caption)
    assert not at.error


def test_health_page_without_a_run_shows_its_own_guards(
    seeded: SeededStore, open_app: Opener
) -> None:
    at = open_app("health")
    table = next(t.value for t in at.table if "this dashboard" in t.value.columns)
    assert list(table.columns) == ["this dashboard"]
    assert table.loc["Daily cap", "this dashboard"] == "$0.0450"
    assert any("No run has recorded its guard settings yet" in c.value for c in at.caption)


RAW_PYTHON = re.compile(r"Traceback \(most recent|object at 0x|\{'|\bNone\b|\bnan\b|datetime\.")


@pytest.mark.parametrize("page", ["overview", "runs", "spend", "jobs", "health"])
def test_no_page_shows_a_raw_python_value(seeded: SeededStore, open_app: Opener, page: str) -> None:
    """Words on every page: no repr, no None, no traceback (tables too, cell by cell)."""
    at = open_app(page)
    kinds = ("markdown", "caption", "info", "warning", "success", "error")
    texts = [e.value for kind in kinds for e in at.get(kind)]
    texts += [m.value for m in at.metric] + [m.delta for m in at.metric]
    for table in [*at.table, *at.dataframe]:
        frame = table.value.data if hasattr(table.value, "data") else table.value
        texts += [str(v) for v in frame.astype(object).to_numpy().ravel() if isinstance(v, str)]
    leaks = [t for t in texts if t and RAW_PYTHON.search(str(t))]
    assert not leaks
    # A missing value shows as "None" in a grid: only an unscored job's fit (a bar) may be.
    for grid in at.dataframe:
        shown = grid.value.drop(columns=["fit"], errors="ignore")
        assert not shown.isna().any().any(), shown[shown.isna().any(axis=1)]
    assert not at.exception
