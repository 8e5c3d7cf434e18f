"""The three deployments, defined once: names, flows, schedules, parameters, concurrency.

``prefect.yaml`` (worker mode) states the same deployments; ``tests/flows/test_deployments.py``
checks that the two agree. ``applyflow serve`` builds them from here with ``flow.to_deployment``.
``deploy_settings`` is also the build step ``prefect deploy`` runs, so the YAML takes its time
zone and default sources from applyflow's validated settings (``.env`` included), not raw env.
``setup_prefect`` (``applyflow setup``) creates the guards' concurrency limits and the work pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from applyflow.settings import Settings, get_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "DEPLOYMENTS",
    "PROJECT_DIR",
    "TAGS",
    "WORK_POOL",
    "DeploymentSpec",
    "SetupStep",
    "build_deployments",
    "deploy_settings",
    "setup_prefect",
    "spec",
]

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "applyflow"
TAGS = ("applyflow",)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow, when it runs, with what defaults and how many at once."""

    name: str
    entrypoint: str  # path/to/file.py:flow_function, relative to the project folder
    description: str
    cron: str | None = None
    interval_s: int | None = None
    concurrency_limit: int | None = None
    collision_strategy: str = "ENQUEUE"
    # Parameter name -> settings field whose value is the default (resolved when deploying).
    settings_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """Importable module of the flow: ``flows/ingest.py`` -> ``flows.ingest``."""
        return self.entrypoint.split(":")[0].removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.split(":")[1]

    def parameters(self, settings: Settings) -> dict[str, Any]:
        """Default parameters; an unset setting gives None, the flow's own default."""
        return {
            param: getattr(settings, name) or None
            for param, name in self.settings_parameters.items()
        }


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        name="ingest",
        entrypoint="flows/ingest.py:ingest",
        description="Ingest new postings from the configured sources, every hour.",
        interval_s=3600,
        settings_parameters={"sources": "sources"},
    ),
    DeploymentSpec(
        name="process-queue",
        entrypoint="flows/pipeline.py:process_jobs",
        description="Run queued jobs through every layer, every 30 minutes, one run at a time.",
        cron="*/30 * * * *",
        concurrency_limit=1,
    ),
    DeploymentSpec(
        name="daily-report",
        entrypoint="flows/report.py:daily_report",
        description="Daily report of applications, runs, spend and alerts at 18:00 local time.",
        cron="0 18 * * *",
    ),
)


def spec(name: str) -> DeploymentSpec:
    """The deployment called ``name``; ``KeyError`` lists the known names."""
    for item in DEPLOYMENTS:
        if item.name == name:
            return item
    raise KeyError(f"no deployment {name!r}; deployments are {[d.name for d in DEPLOYMENTS]}")


def deploy_settings() -> dict[str, Any]:
    """Build step for ``prefect deploy``: the values prefect.yaml templates in.

    ``timezone``, ``project_dir`` and every settings-backed parameter by name
    (``{{ settings.sources }}`` in the YAML).
    """
    settings = get_settings()
    out: dict[str, Any] = {"timezone": settings.timezone, "project_dir": str(PROJECT_DIR)}
    for item in DEPLOYMENTS:
        out.update(item.parameters(settings))
    return out


def _schedule(item: DeploymentSpec, timezone: str) -> Any:
    from prefect.schedules import Cron, Interval

    if item.cron is not None:
        return Cron(item.cron, timezone=timezone)
    assert item.interval_s is not None, f"{item.name}: needs a cron or an interval"
    return Interval(item.interval_s, timezone=timezone)


def build_deployments(settings: Settings | None = None) -> list[RunnerDeployment]:
    """The three deployments as Prefect ``RunnerDeployment`` objects, for ``prefect.serve``."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.types.entrypoint import EntrypointType

    settings = settings or get_settings()
    out = []
    for item in DEPLOYMENTS:
        flow = getattr(import_module(item.module), item.function)
        limit = None
        if item.concurrency_limit is not None:
            limit = ConcurrencyLimitConfig(
                limit=item.concurrency_limit,
                collision_strategy=ConcurrencyLimitStrategy(item.collision_strategy),
            )
        out.append(
            flow.to_deployment(
                name=item.name,
                description=item.description,
                schedules=[_schedule(item, settings.timezone)],
                concurrency_limit=limit,
                parameters=item.parameters(settings),
                tags=list(TAGS),
                # A module path loads from any working folder (the package is installed).
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return out


@dataclass(frozen=True)
class SetupStep:
    """One Prefect object ``applyflow setup`` made sure of, and what it did."""

    kind: str  # concurrency limit | work pool
    name: str
    size: int | None  # slots of a limit
    action: str  # created | updated | unchanged


def _ensure_work_pool(client: Any) -> str:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        client.read_work_pool(WORK_POOL)
        return "unchanged"
    except ObjectNotFound:
        pass
    client.create_work_pool(
        WorkPoolCreate(
            name=WORK_POOL,
            type=ProcessWorker.type,
            base_job_template=ProcessWorker.get_default_base_job_template(),
        )
    )
    return "created"


def setup_prefect(settings: Settings) -> list[SetupStep]:
    """Create or update (idempotently) every ``llm-<provider>`` limit and the work pool."""
    from prefect.client.orchestration import get_client

    from guards.concurrency import upsert_limits

    with get_client(sync_client=True) as client:
        steps = [
            SetupStep("concurrency limit", change.name, change.size, change.action)
            for change in upsert_limits(settings, client)
        ]
        steps.append(SetupStep("work pool", WORK_POOL, None, _ensure_work_pool(client)))
    return steps
