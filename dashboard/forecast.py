"""The Spend page's forecast: the queue priced on any priced model at the tokens a job has
used so far. Loaders are cached like those in ``dashboard/data.py``, which re-exports them."""

from __future__ import annotations

from typing import Any

import streamlit as st
from genai_prices.data_snapshot import get_snapshot

from applyflow.errors import PricingError
from applyflow.models import Status
from applyflow.modelspec import LOCAL_PROVIDERS, parse_model
from applyflow.settings import Settings
from dashboard.source import Source, store
from guards.pricing import cost_usd, models_in_use, price_of

__all__ = ["CATALOGUE_PROVIDERS", "default_forecast_model", "load_forecast", "priced_models"]

# Providers whose genai-prices catalogue is offered (any other priced model can be typed in),
# without the models that do not write text.
CATALOGUE_PROVIDERS = ("openai", "anthropic")
NOT_CHAT = (
    "whisper", "tts", "embedding", "dall-e", "image", "audio", "realtime", "moderation",
    "transcribe", "search", "computer-use", "ada", "babbage", "curie", "davinci",
)  # fmt: skip
FALLBACK_MODEL = "openai:gpt-4o-mini"
TTL_S = 30


def _priced(settings: Settings, spec: str) -> bool:
    try:
        price_of(settings, spec)
    except (PricingError, ValueError):
        return False
    return True


@st.cache_data(ttl=300, show_spinner=False)
def priced_models(_settings: Settings, config: str) -> list[str]:
    """Models the forecast can price: those in use and in ``APPLYFLOW_PRICES`` first, then the
    current genai-prices models of ``CATALOGUE_PROVIDERS``. ``config`` keys the cache."""
    first = [*models_in_use(_settings), *_settings.prices]
    catalogue = sorted(
        f"{provider.id}:{model.id}"
        for provider in get_snapshot().providers
        if provider.id in CATALOGUE_PROVIDERS
        for model in provider.models
        if not model.deprecated
        and ":" not in model.id
        and not model.id.endswith("-")
        and not any(word in model.id for word in NOT_CHAT)
    )
    return [m for m in dict.fromkeys([*first, *catalogue]) if _priced(_settings, m)]


def default_forecast_model(settings: Settings, models: list[str]) -> str:
    """The configured model when it costs something, else a common paid one."""
    for spec in models_in_use(settings):
        if parse_model(spec).provider not in LOCAL_PROVIDERS and spec in models:
            return spec
    return FALLBACK_MODEL if FALLBACK_MODEL in models else models[0]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_forecast(src: Source, _settings: Settings, model: str) -> dict[str, Any]:
    """The ``new`` queue's cost: at the average recorded cost per job, and on ``model`` at the
    average tokens per job (``PricingError`` if ``model`` has no price)."""
    s = store(src.url)
    queue = s.status_counts().get(Status.NEW.value, 0)
    per_job = [g for g in s.spend_by("job_id") if g.key]
    n = len(per_job)
    average = sum(g.cost_usd for g in per_job) / n if n else None
    tokens_in = round(sum(g.input_tokens for g in per_job) / n) if n else 0
    tokens_out = round(sum(g.output_tokens for g in per_job) / n) if n else 0
    on_model = cost_usd(_settings, model, tokens_in, tokens_out) if n else None
    return {
        "queue": queue,
        "jobs_costed": n,
        "average_usd": average,
        "forecast_usd": None if average is None else queue * average,
        "model": model,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "model_per_job_usd": on_model,
        "model_forecast_usd": None if on_model is None else queue * on_model,
    }
