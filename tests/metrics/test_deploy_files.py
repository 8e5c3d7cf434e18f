"""The shipped Grafana dashboard and Prometheus rules name only series the exporter serves, and
promtool accepts every expression."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from applyflow.metrics import SERIES
from tests.debian import PROMTOOL, require

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "applyflow.json"

_PARTS = ("_bucket", "_sum", "_count")
SERVED = {
    name + part
    for name, (kind, _) in SERIES.items()
    for part in (_PARTS if kind == "histogram" else ("",))
}
LABELS = {label for _, labels in SERIES.values() for label in labels} | {"le"}
_NAME = re.compile(r"\bapplyflow[a-zA-Z0-9_:]*")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")


def rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def dashboard_exprs() -> dict[str, str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {f"{p['title']} {t['refId']}": t["expr"] for p in panels for t in p["targets"]}


def _check(expr: str, recorded: set[str]) -> None:
    names = set(_NAME.findall(expr))
    assert names, f"names no applyflow series: {expr}"
    unknown = {n for n in names if n not in SERVED and n not in recorded}
    assert not unknown, f"{expr} names series the exporter does not serve: {unknown}"
    labels = {
        label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label
    }
    labels |= {
        m.split("=")[0].strip() for group in _MATCHERS.findall(expr) for m in group.split(",")
    }
    assert labels <= LABELS, f"{expr} uses labels the exporter does not set: {labels - LABELS}"


def test_rules_name_only_served_series_and_cover_the_alerts() -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        _check(rule["expr"], recorded)
    alerts = {rule["alert"]: rule["expr"] for rule in rules() if "alert" in rule}
    assert ">= 0.8" in alerts["ApplyflowBudgetWarning"]
    assert "applyflow_budget_cap_usd" in alerts["ApplyflowBudgetExhausted"]
    assert "applyflow_breaker_open == 1" in alerts["ApplyflowBreakerOpen"]


def test_dashboard_names_only_served_series_and_has_the_panels() -> None:
    exprs = dashboard_exprs()
    for expr in exprs.values():
        _check(expr, set())
    text = "\n".join(exprs.values())
    for wanted in (
        "sum(increase(applyflow_spend_usd_total[1d]))",  # spend per day
        "sum by (model) (increase(applyflow_spend_usd_total[1d]))",  # ... per model
        "applyflow_budget_remaining_usd",  # budget remaining per scope
        "increase(applyflow_applications_total[1w])",  # applications per week
        "histogram_quantile(0.95, sum by (layer, le) (rate(applyflow_layer_duration_seconds_bucket",
        "applyflow_breaker_open",
    ):
        assert wanted in text, wanted


def test_promtool_accepts_the_rules() -> None:
    promtool = require(PROMTOOL, "prometheus")
    done = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_promtool_accepts_every_dashboard_expression(tmp_path: Path) -> None:
    promtool = require(PROMTOOL, "prometheus")
    # Grafana fills $__rate_interval in; any range will do for checking the syntax.
    recorded = [
        {"record": f"dashboard:expr{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_exprs().values())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    done = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("expr", ["applyflow_nope_total", 'applyflow_jobs{state="x"}'])
def test_the_check_catches_unknown_series_and_labels(expr: str) -> None:
    with pytest.raises(AssertionError):
        _check(expr, set())
