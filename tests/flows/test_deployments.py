"""prefect.yaml and flows/deployments.py describe the same three deployments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.utilities.templating import apply_values

from applyflow.settings import get_settings, load_settings
from flows.deployments import (
    DEPLOYMENTS,
    PROJECT_DIR,
    TAGS,
    WORK_POOL,
    build_deployments,
    deploy_settings,
    spec,
)

PREFECT_YAML = PROJECT_DIR / "prefect.yaml"


@pytest.fixture
def yaml_doc() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text())


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch):
    """Settings re-read from the environment the test sets (and cleared afterwards)."""
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_yaml_states_each_python_deployment(yaml_doc: dict) -> None:
    by_name = {d["name"]: d for d in yaml_doc["deployments"]}
    assert list(by_name) == [item.name for item in DEPLOYMENTS]
    for item in DEPLOYMENTS:
        entry = by_name[item.name]
        assert entry["entrypoint"] == item.entrypoint, item.name
        assert entry["description"] == item.description, item.name
        assert entry["tags"] == list(TAGS), item.name
        assert entry["work_pool"] == {"name": WORK_POOL}, item.name
        (schedule,) = entry["schedules"]
        assert schedule.get("cron") == item.cron, item.name
        assert schedule.get("interval") == item.interval_s, item.name
        assert schedule["timezone"] == "{{ settings.timezone }}", item.name
        expected_params = {p: f"{{{{ settings.{p} }}}}" for p in item.settings_parameters}
        assert entry.get("parameters", {}) == expected_params, item.name
        if item.concurrency_limit is None:
            assert "concurrency_limit" not in entry, item.name
        else:
            assert entry["concurrency_limit"] == {
                "limit": item.concurrency_limit,
                "collision_strategy": item.collision_strategy,
            }, item.name


def test_issue_schedules() -> None:
    assert spec("ingest").interval_s == 3600
    assert spec("process-queue").cron == "*/30 * * * *"
    assert spec("process-queue").concurrency_limit == 1
    assert spec("process-queue").collision_strategy == "ENQUEUE"
    assert spec("daily-report").cron == "0 18 * * *"
    with pytest.raises(KeyError, match="deployments are"):
        spec("nope")


def test_yaml_build_and_pull_steps_use_the_settings_step(yaml_doc: dict) -> None:
    (build,) = yaml_doc["build"]
    assert build == {"flows.deployments.deploy_settings": {"id": "settings"}}
    (pull,) = yaml_doc["pull"]
    assert pull == {
        "prefect.deployments.steps.set_working_directory": {
            "directory": "{{ settings.project_dir }}"
        }
    }


def test_yaml_templated_by_prefect_gives_the_python_values(
    yaml_doc: dict, fresh_settings: pytest.MonkeyPatch
) -> None:
    """Prefect's own templating of the YAML with the build step's output equals serve mode."""
    fresh_settings.setenv("APPLYFLOW_TIMEZONE", "Europe/Berlin")
    fresh_settings.setenv("APPLYFLOW_SOURCES", "samples/postings.json,greenhouse:acme")
    outputs = deploy_settings()
    assert outputs["timezone"] == "Europe/Berlin"
    assert Path(outputs["project_dir"]) == PROJECT_DIR
    resolved = apply_values(yaml_doc, {"settings": outputs})
    settings = get_settings()
    for entry in resolved["deployments"]:
        item = spec(entry["name"])
        assert entry["schedules"][0]["timezone"] == "Europe/Berlin"
        assert entry.get("parameters", {}) == item.parameters(settings)
    ingest = next(e for e in resolved["deployments"] if e["name"] == "ingest")
    assert ingest["parameters"] == {"sources": ["samples/postings.json", "greenhouse:acme"]}
    assert resolved["pull"][0]["prefect.deployments.steps.set_working_directory"] == {
        "directory": str(PROJECT_DIR)
    }


def test_unset_sources_leave_the_flow_default(fresh_settings: pytest.MonkeyPatch) -> None:
    fresh_settings.delenv("APPLYFLOW_SOURCES", raising=False)
    assert spec("ingest").parameters(load_settings()) == {"sources": None}
    assert deploy_settings()["timezone"] == "UTC"


def test_serve_deployments_carry_schedule_timezone_and_limit() -> None:
    settings = load_settings(timezone="America/New_York", sources=["samples/postings.jsonl"])
    built = {d.name: d for d in build_deployments(settings)}
    assert list(built) == [item.name for item in DEPLOYMENTS]
    for item in DEPLOYMENTS:
        deployment = built[item.name]
        (schedule,) = deployment.schedules
        assert schedule.schedule.timezone == "America/New_York", item.name
        if item.cron:
            assert schedule.schedule.cron == item.cron, item.name
        else:
            assert schedule.schedule.interval.total_seconds() == item.interval_s, item.name
        assert deployment.parameters == item.parameters(settings), item.name
        assert deployment.tags == list(TAGS), item.name
        # Module entrypoints load from any working folder.
        assert deployment.entrypoint == f"{item.module}.{item.function}", item.name
    queue = built["process-queue"]
    assert queue.concurrency_limit == 1
    assert queue.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert built["ingest"].concurrency_limit is None
    assert built["ingest"].parameters == {"sources": ["samples/postings.jsonl"]}
