"""What the ledger and the stats queries report: token classes, usage totals, spend buckets,
application counts and layer stats."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TokenClasses(BaseModel):
    """The parts of a call's tokens a provider bills at their own price, as it reports them
    (genai-prices' usage keys). Each is inside ``input_tokens`` or ``output_tokens``, never on
    top: ``cache_write_tokens`` counts every cache write, the 1-hour ones included."""

    cache_read_tokens: int = Field(0, ge=0)
    cache_write_tokens: int = Field(0, ge=0)
    cache_write_1h_tokens: int = Field(0, ge=0)
    input_audio_tokens: int = Field(0, ge=0)
    output_reasoning_tokens: int = Field(0, ge=0)
    output_audio_tokens: int = Field(0, ge=0)


TOKEN_CLASSES: tuple[str, ...] = tuple(TokenClasses.model_fields)


class ApplicationStats(BaseModel):
    """Applications sent (jobs with ``applied_at``): today, last 7 days, last 30 days, total."""

    today: int
    week: int
    month: int
    total: int


class WeekCount(BaseModel):
    week_start: datetime  # local Monday 00:00 in the configured zone, as UTC
    count: int


class SpendBucket(BaseModel):
    start: datetime  # bucket start (UTC)
    cost_usd: float
    calls: int


class _GroupHead(BaseModel):
    key: str | None
    calls: int
    input_tokens: int
    output_tokens: int


class SpendGroup(TokenClasses, _GroupHead):
    cost_usd: float


class _TotalHead(BaseModel):
    provider: str
    model: str
    layer: str | None
    calls: int
    input_tokens: int
    output_tokens: int


class UsageTotal(TokenClasses, _TotalHead):
    """Every call recorded for one (provider, model, layer) since the ledger began."""

    cost_usd: float


class LayerStats(BaseModel):
    """One layer over every run, from the progress rows: durations of the layer runs that
    completed (per bucket of ``store.runs.LAYER_DURATION_BUCKETS``, the last one above them
    all; not cumulative) and how many failed."""

    layer: str
    buckets: list[int]
    seconds: float  # total duration of the completed runs
    failures: int

    @property
    def completed(self) -> int:
        return sum(self.buckets)
