"""A real Prometheus (Debian's) scrapes a running `applyflow metrics` after a priced run, with
the shipped rules loaded; what it stores agrees with `budget --json` and `stats --json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.debian import PROMETHEUS, require
from tests.e2e._helpers import APPLYFLOW, Workspace
from tests.e2e.conftest import ROOT, PrefectServer
from tests.loopback import free_port
from tests.metrics.test_deploy_files import dashboard_exprs
from tests.waiting import wait_for_process

pytestmark = pytest.mark.e2e

# Priced so each call costs cents: the comparisons below are to the cent and closer.
PRICES = '{"offline": {"input": 40.0, "output": 120.0}}'
START_S = 90.0


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert reply["status"] == "success", (expr, reply)
    return reply["data"]["result"]


def _value(prom: str, expr: str) -> float | None:
    result = _query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_spend_jobs_and_alerts(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    prometheus = require(PROMETHEUS, "prometheus")
    ws = Workspace(prefect_server, tmp_path)
    job_ids = ws.add_jobs(2, "prom")
    env = ws.env(APPLYFLOW_BUDGET_TOTAL_USD="1000") | {"APPLYFLOW_PRICES": PRICES}
    prefect_server.run([APPLYFLOW, "run", "--limit", "2"], env)
    prefect_server.run([APPLYFLOW, "mark", job_ids[0], "applied"], env)
    spent = json.loads(prefect_server.run([APPLYFLOW, "budget", "--json"], env))
    total = next(s for s in spent["scopes"] if s["kind"] == "total")["spent"]
    assert total > 0.10, "the run was not priced; the comparison would prove nothing"
    # A day cap the run has used 90% of: the 80% alert fires, the 100% one does not.
    env["APPLYFLOW_BUDGET_DAILY_USD"] = str(round(total / 0.9, 6))
    budget = json.loads(prefect_server.run([APPLYFLOW, "budget", "--json"], env))
    stats = json.loads(prefect_server.run([APPLYFLOW, "stats", "--json"], env))

    port = free_port()
    exporter = prefect_server.start("metrics", [APPLYFLOW, "metrics", "--port", str(port)], env)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ROOT / "deploy" / "prometheus" / "rules.yml")],
                "scrape_configs": [
                    {
                        "job_name": "applyflow",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    server = prefect_server.start(
        "prometheus",
        [str(prometheus), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        env,
    )  # fmt: skip
    prom = f"http://127.0.0.1:{prom_port}"

    def scraped() -> bool:
        assert exporter.alive(), f"applyflow metrics exited:\n{exporter.output()}"
        try:
            return bool(_query(prom, "applyflow_spend_usd_total")) and bool(
                _query(prom, 'ALERTS{alertname="ApplyflowBudgetWarning",alertstate="firing"}')
            )
        except (httpx.HTTPError, ValueError):  # not up yet: Prometheus says 503 in plain text
            return False

    wait_for_process(scraped, "Prometheus to scrape applyflow", server.popen, server.log,
                     "prometheus", timeout=START_S, interval=0.5)  # fmt: skip

    # Spend: the counters, the budget gauges and `budget --json` agree (to the nano-dollar).
    scopes = {s["kind"]: s for s in budget["scopes"]}
    assert _value(prom, "sum(applyflow_spend_usd_total)") == pytest.approx(total, abs=1e-9)
    for kind in ("total", "month", "day"):
        where = f'{{scope="{kind}"}}'
        assert _value(prom, f"applyflow_budget_spent_usd{where}") == scopes[kind]["spent"]
        assert _value(prom, f"applyflow_budget_reserved_usd{where}") == scopes[kind]["reserved"]
    assert _value(prom, 'applyflow_budget_cap_usd{scope="day"}') == scopes["day"]["cap"]
    assert _value(prom, 'applyflow_budget_remaining_usd{scope="day"}') == pytest.approx(
        scopes["day"]["remaining"], abs=1e-6
    )
    by_model = {r["metric"]["model"]: float(r["value"][1])
                for r in _query(prom, "sum by (model) (applyflow_spend_usd_total)")}  # fmt: skip
    assert by_model == pytest.approx({g["key"]: g["cost_usd"] for g in budget["by_model"]})
    calls = _value(prom, "sum(applyflow_model_calls_total)")
    # 2 jobs x 4 model layers (publish writes files without a call)
    assert calls == sum(g["calls"] for g in budget["by_model"]) == 8

    # Jobs and applications: as `stats --json` counts them.
    jobs = {r["metric"]["status"]: float(r["value"][1]) for r in _query(prom, "applyflow_jobs")}
    assert jobs == {status: float(n) for status, n in stats["by_status"].items()}
    assert _value(prom, "applyflow_applications_total") == stats["total"] == 1
    assert _value(prom, 'sum(applyflow_layer_duration_seconds_count{layer="extract"})') == 2

    # The shipped rules: loaded, healthy; the 80% alert fires for the day scope only.
    groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert loaded and all(rule["health"] == "ok" for rule in loaded), loaded
    firing = _query(prom, 'ALERTS{alertstate="firing"}')
    assert {(a["metric"]["alertname"], a["metric"].get("scope")) for a in firing} == {
        ("ApplyflowBudgetWarning", "day")
    }
    # Every dashboard expression runs on this Prometheus (Grafana's range variable filled in).
    for expr in dashboard_exprs().values():
        _query(prom, expr.replace("$__rate_interval", "1m"))
