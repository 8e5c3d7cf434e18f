"""applyflow settings: one pydantic-settings class, env prefix ``APPLYFLOW_``, ``.env`` supported.

``load_settings()`` validates everything at start-up. Several bad variables give ONE
``SettingsError`` whose message names each variable, its value (secrets masked) and what is
allowed. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from applyflow._env_values import json_list as _json_list
from applyflow._env_values import json_object as _json_object
from applyflow.errors import SettingsError

ENV_PREFIX = "APPLYFLOW_"
LAYERS = ("extract", "research", "score", "generate", "publish")
MASK = "**********"


class Price(BaseModel):
    """USD per 1M input and output tokens; cached input tokens at the input price unless
    ``cache_read`` / ``cache_write`` price them."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)


class Settings(BaseSettings):
    """Every applyflow setting. Environment variables are ``APPLYFLOW_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- store and files -------------------------------------------------------------------
    store_url: str = Field(
        "sqlite:///.applyflow/applyflow.db",
        description="Where jobs, progress, usage and budgets live: sqlite:///PATH or mongodb://...",
    )
    model: str = Field("offline", description="Chat model as provider:model, or `offline`.")
    layer_models: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Per-layer model overrides, JSON: {"generate": "anthropic:claude-..."}.',
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (OpenRouter, a proxy, a local server)."
    )
    api_key: SecretStr | None = Field(
        None,
        description="API key for the model provider; else the provider's own variable is used.",
    )
    model_timeout_s: float = Field(60.0, gt=0, description="Timeout of one model call, seconds.")
    model_max_retries: int = Field(2, ge=0, le=10, description="Provider client retries per call.")
    structured_output: bool = Field(
        True,
        description="Ask OpenAI (strict json_schema) and Anthropic (structured outputs, else tool"
        " use) models for schema-shaped replies; false: the schema in the prompt only.",
    )
    profile: Path = Field(
        Path("samples/profile.md"), description="Candidate profile (Markdown) used by every layer."
    )
    output_dir: Path = Field(Path("output"), description="Where published applications go.")
    timezone: str = Field("UTC", description="IANA time zone for 'today' and schedules.")
    sources: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Ingest sources (files, greenhouse:BOARD, lever:COMPANY, ashby:BOARD, "
            "smartrecruiters:COMPANY, recruitee:COMPANY, workable:ACCOUNT), comma or JSON list."
        ),
    )

    # --- job boards and tracking -----------------------------------------------------------
    recruitee_token: SecretStr | None = Field(
        None,
        description="Recruitee Careers Site token (X-Careers-Sites-Token; required from Feb 2027).",
    )
    followup_days: int = Field(
        7, ge=1, le=365, description="Days without a status change before an application is due."
    )

    # --- documents -------------------------------------------------------------------------
    paper: Literal["a4", "letter"] = Field(
        "a4", description="Paper size of the PDF and DOCX documents: a4 or letter (US)."
    )
    font_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Extra font folders for the PDFs (for scripts the bundled font lacks, "
        "e.g. CJK or Arabic), comma or JSON list.",
    )

    # --- pipeline --------------------------------------------------------------------------
    job_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Jobs in their model layers at once in a run (a job's publish overlaps "
        "the next job's calls).",
    )
    claim_lease_s: int = Field(900, ge=10, description="Seconds a claimed job stays leased.")
    research_fetch: bool = Field(False, description="Fetch the company URL in the research layer.")
    min_fit: int = Field(
        50,
        ge=0,
        le=100,
        description="A job whose fit score is below this stops after score as `skipped`: no "
        "documents are generated (0: off; `run --min-fit N` for one run).",
    )
    http_timeout_s: float = Field(20.0, gt=0, description="Timeout for job-board HTTP calls.")

    # --- budget ----------------------------------------------------------------------------
    budget_total_usd: float | None = Field(100.0, ge=0, description="Lifetime spend cap, USD.")
    budget_monthly_usd: float | None = Field(
        None, ge=0, description="Spend cap per calendar month."
    )
    budget_daily_usd: float | None = Field(None, ge=0, description="Spend cap per local day.")
    budget_per_run_usd: float | None = Field(None, ge=0, description="Spend cap per flow run.")
    budget_per_job_usd: float | None = Field(None, ge=0, description="Spend cap per job.")
    budget_enforce: bool = Field(True, description="False: record and warn, never block.")
    budget_warn_at: float = Field(
        0.8, gt=0, le=1, description="Warn when a scope reaches this share."
    )
    budget_lease_s: int = Field(
        600, ge=5, description="Seconds before an unsettled reservation expires."
    )
    fallback_model: str | None = Field(
        None, description="Cheaper model used when the primary model's reservation does not fit."
    )
    prices: Annotated[dict[str, Price], NoDecode] = Field(
        default_factory=dict,
        description='USD per 1M tokens, JSON: {"openai:gpt-4o": {"input": 2.5, "output": 10}}.',
    )

    # --- rate limits and concurrency -------------------------------------------------------
    rate_limits: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Request limits per provider, JSON: {"openai": "500/minute;10000/day"}.',
    )
    token_limits: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Token limits per provider, JSON: {"openai": "200000/minute"}.',
    )
    rate_max_wait_s: float = Field(
        60.0, ge=0, description="Longest wait for a rate window, seconds."
    )
    rate_storage_url: str | None = Field(
        None,
        description="Shared rate-limit storage: memory://, sqlite:///PATH, redis://, mongodb://.",
    )
    max_parallel_calls: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description='Prefect concurrency slots per provider, JSON: {"openai": 4}; default 4.',
    )
    breaker_fail_max: int = Field(5, ge=1, description="Consecutive failures that open a breaker.")
    breaker_reset_s: float = Field(30.0, gt=0, description="Seconds an open breaker waits.")

    # --- alerts ----------------------------------------------------------------------------
    alert_webhook_url: SecretStr | None = Field(
        None, description="Slack-compatible webhook for alerts (kept secret)."
    )
    alert_dedup_s: int = Field(300, ge=0, description="Seconds one alert key is deduplicated.")

    # --- dashboard -------------------------------------------------------------------------
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard binds to.")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="Dashboard port.")
    dashboard_password: SecretStr | None = Field(
        None,
        description="Required when the dashboard binds to anything but localhost.",
    )

    # --- observability (metrics exporter, traces) -------------------------------------------
    metrics_host: str = Field("127.0.0.1", description="Address `applyflow metrics` binds to.")
    metrics_port: int = Field(9464, ge=1, le=65535, description="Prometheus exporter port.")
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token the exporter asks for; required beyond localhost.",
    )
    trace_content: bool = Field(
        False, description="Put prompt and reply text in trace spans (off: never)."
    )

    # --- Prefect ---------------------------------------------------------------------------
    prefect_server: Literal["local", "temporary"] = Field(
        "local",
        description="Without PREFECT_API_URL: `local` reuses one local Prefect server (started "
        "on first use, left running; `applyflow server stop`), `temporary` starts Prefect's "
        "temporary server for each command.",
    )

    # --- validators --------------------------------------------------------------------------
    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite:///.+|mongodb(\+srv)?://.+)$", value):
            raise ValueError("expected sqlite:///PATH, mongodb://HOST/DB or mongodb+srv://HOST/DB")
        return value

    @field_validator("model", "fallback_model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:
        if value is None or value == "offline":
            return value
        if not re.match(r"^[A-Za-z0-9_.-]+:\S+$", value):
            raise ValueError("expected `offline` or provider:model, e.g. openai:gpt-4o-mini")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as UTC or Europe/Berlin") from None
        return value

    @field_validator("layer_models", mode="before")
    @classmethod
    def _parse_layer_models(cls, value: Any) -> Any:
        value = _json_object(value, 'layer -> model, e.g. {"generate": "openai:gpt-4o"}')
        unknown = sorted(set(value) - set(LAYERS))
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; layers are {list(LAYERS)}")
        for model in value.values():
            cls._check_model(model)
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: Any) -> Any:
        return _json_object(value, 'model -> {"input": USD per 1M, "output": USD per 1M}')

    @field_validator("rate_limits", "token_limits", mode="before")
    @classmethod
    def _parse_limits(cls, value: Any) -> Any:
        from limits import parse_many

        value = _json_object(value, 'provider -> limits string, e.g. {"openai": "500/minute"}')
        for provider, spec in value.items():
            try:
                parse_many(str(spec))
            except ValueError:
                raise ValueError(
                    f"{provider}: {spec!r} is not a limits string like '500/minute;10000/day'"
                ) from None
        return value

    @field_validator("max_parallel_calls", mode="before")
    @classmethod
    def _parse_parallel(cls, value: Any) -> Any:
        value = _json_object(value, 'provider -> slots, e.g. {"openai": 4}')
        for provider, slots in value.items():
            if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
                raise ValueError(f"{provider}: {slots!r} is not a positive whole number")
        return value

    @field_validator("sources", "font_dirs", mode="before")
    @classmethod
    def _parse_sources(cls, value: Any) -> Any:
        return _json_list(value)

    @field_validator("rate_storage_url")
    @classmethod
    def _check_rate_storage(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^(memory://|sqlite:///.+|redis(s)?://.+|mongodb(\+srv)?://.+)", value):
            raise ValueError("expected memory://, sqlite:///PATH, redis://... or mongodb://...")
        return value

    # --- derived ---------------------------------------------------------------------------
    @property
    def store_kind(self) -> str:
        """``sqlite`` or ``mongo``."""
        return "sqlite" if self.store_url.startswith("sqlite") else "mongo"

    @property
    def data_dir(self) -> Path:
        """Folder for local state (SQLite files, rate file, Prefect home): the store's folder."""
        if self.store_kind == "sqlite":
            return Path(self.store_url.removeprefix("sqlite:///")).parent
        return Path(".applyflow")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def model_for(self, layer: str) -> str:
        """The model a layer uses: its override, else ``model``."""
        return self.layer_models.get(layer, self.model)

    def masked(self) -> dict[str, Any]:
        """Effective settings as plain data, secrets and URL passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = MASK if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, dict):
                value = {
                    k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in value.items()
                }
            elif isinstance(value, str) and name.endswith("_url"):
                value = mask_url(value)
            out[name] = value
        return out


SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", rf"\1{MASK}@", url)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; None or "" (every interface) is not."""
    import ipaddress

    if not host:
        return False
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _format_errors(exc: ValidationError) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        var = env_name(field)
        if field in SECRET_FIELDS:
            shown = MASK
        else:
            shown = repr(error.get("input"))
            if field.endswith("_url") and isinstance(error.get("input"), str):
                shown = repr(mask_url(error["input"]))
        reason = error["msg"].removeprefix("Value error, ")
        detail = ".".join(str(p) for p in error["loc"][1:])
        where = f" ({detail})" if detail else ""
        line = f"  {var}={shown}{where}: {reason}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    count = len(lines)
    head = f"{count} invalid setting{'s' if count != 1 else ''}:"
    return "\n".join([head, *lines])


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; raise ``SettingsError`` naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, validated once."""
    return load_settings()
