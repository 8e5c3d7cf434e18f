"""deploy/compose.yaml hangs together: the services the topology needs, wired to each other,
with settings applyflow accepts. (Structure only: there is no Docker engine here to run it.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from applyflow.settings import Settings, load_settings
from flows.deployments import WORK_POOL

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
APPLYFLOW_SERVICES = ("setup", "worker", "dashboard", "metrics")
_REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]+\}$")  # ${NAME:?message}: compose refuses to start
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved, as compose does


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_the_topology_is_there_and_every_dependency_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres", "prefect-server", "mongo", "redis", *APPLYFLOW_SERVICES,
    }  # fmt: skip
    for name, service in services.items():
        for needed in service.get("depends_on") or {}:
            assert needed in services, f"{name} depends on a missing service {needed}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if not source.startswith(("$", ".", "/")):
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    assert services["worker"]["depends_on"]["setup"]["condition"] == (
        "service_completed_successfully"
    )
    build = services["worker"]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]).is_file()  # the checkout


def test_prefect_runs_on_the_postgres_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    server, postgres = services["prefect-server"], services["postgres"]
    url = _env(server)["PREFECT_API_DATABASE_CONNECTION_URL"]
    user, db = _env(postgres)["POSTGRES_USER"], _env(postgres)["POSTGRES_DB"]
    assert url == f"postgresql+asyncpg://{user}:${{POSTGRES_PASSWORD}}@postgres:5432/{db}"
    assert _REQUIRED.match(_env(postgres)["POSTGRES_PASSWORD"])
    assert server["command"][:3] == ["prefect", "server", "start"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_applyflow_service_shares_the_store_rate_storage_and_prefect(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    envs = {name: _env(services[name]) for name in APPLYFLOW_SERVICES}
    shared = ("PREFECT_API_URL", "APPLYFLOW_STORE_URL", "APPLYFLOW_RATE_STORAGE_URL")
    for key in shared:
        assert len({env[key] for env in envs.values()}) == 1, key
    env = envs["worker"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["APPLYFLOW_STORE_URL"].startswith("mongodb://mongo:27017/")
    assert "replicaSet=rs0" in env["APPLYFLOW_STORE_URL"]
    assert "--replSet" in services["mongo"]["command"]
    assert env["APPLYFLOW_RATE_STORAGE_URL"].startswith("redis://redis:6379/")
    assert services["worker"]["command"] == ["prefect", "worker", "start", "--pool", WORK_POOL]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["setup"]["command"][-1] == (
        "applyflow setup && prefect --no-prompt deploy --all"
    )


def test_the_applyflow_settings_are_real_and_valid(compose: dict[str, Any]) -> None:
    for name in APPLYFLOW_SERVICES:
        values: dict[str, str] = {}
        for key, raw in _env(compose["services"][name]).items():
            if not key.startswith("APPLYFLOW_"):
                continue
            field = key.removeprefix("APPLYFLOW_").lower()
            assert field in Settings.model_fields, f"{name}: {key} is not a setting"
            if _REQUIRED.match(raw):
                values[field] = "a-secret-value"
            else:
                value = _DEFAULTED.sub(lambda m: m.group(2), raw)
                if value:
                    values[field] = value
        load_settings(**values)  # SettingsError (the message names the variable) if not


def test_dashboard_and_metrics_are_only_published_behind_a_secret(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"prefect-server", "dashboard", "metrics"}
    dashboard, metrics = _env(services["dashboard"]), _env(services["metrics"])
    assert _REQUIRED.match(dashboard["APPLYFLOW_DASHBOARD_PASSWORD"])
    assert _REQUIRED.match(metrics["APPLYFLOW_METRICS_TOKEN"])
    assert services["dashboard"]["command"][:4] == ["applyflow", "dashboard", "--host", "0.0.0.0"]
    assert services["metrics"]["command"][:4] == ["applyflow", "metrics", "--host", "0.0.0.0"]
