"""Prices of model calls in USD: genai-prices, overridden or extended by ``APPLYFLOW_PRICES``.

A model with no known price is an error (fail closed), never $0. Local providers (``offline``,
``ollama``) cost $0 unless an override prices them.

A call is priced from every token class its provider reports (``reported_tokens`` reads them
from LangChain's ``usage_metadata``): cache reads and writes, reasoning and audio tokens each
at genai-prices' price for them, so spend is what the provider bills. A reservation passes no
classes: its worst case assumes no cache discount.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genai_prices import Usage, calc_price

from applyflow.errors import PricingError
from applyflow.models import TokenClasses
from applyflow.modelspec import LOCAL_PROVIDERS, parse_model
from applyflow.settings import Price, Settings, env_name

__all__ = [
    "ModelPrice",
    "ReportedTokens",
    "check_prices",
    "cost_usd",
    "models_in_use",
    "price_of",
    "reported_tokens",
    "run_price_problems",
]

logger = logging.getLogger("applyflow.guards")

_PER_MILLION = 1_000_000
_NONE = TokenClasses()
# LangChain's OpenAI model prefixes detail keys with the service tier (``flex_cache_read``).
_TIERS = ("", "priority_", "flex_")


@dataclass(frozen=True)
class ReportedTokens:
    """A reply's billed tokens: the input and output totals and the classes inside them."""

    input_tokens: int
    output_tokens: int
    classes: TokenClasses


def _count(details: Mapping[str, Any], name: str) -> int:
    total = 0
    for tier in _TIERS:
        value = details.get(tier + name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return total


def reported_tokens(usage: Mapping[str, Any] | None) -> ReportedTokens | None:
    """The tokens a reply's ``usage_metadata`` reports, or None when it reports none.

    LangChain's totals hold every class (its Anthropic model adds the cache tokens Anthropic
    reports apart); a report whose classes do not fit inside its totals has the totals raised
    to hold them, so a cached token is never billed twice nor left out.
    """
    if not usage:
        return None
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    by_ttl = _count(inputs, "ephemeral_5m_input_tokens") + _count(
        inputs, "ephemeral_1h_input_tokens"
    )
    # Anthropic's 5m/1h split replaces the plain count (LangChain zeroes it then).
    writes = by_ttl or _count(inputs, "cache_creation")
    classes = TokenClasses(
        cache_read_tokens=_count(inputs, "cache_read"),
        cache_write_tokens=writes,
        cache_write_1h_tokens=min(_count(inputs, "ephemeral_1h_input_tokens"), writes),
        input_audio_tokens=_count(inputs, "audio"),
        output_reasoning_tokens=_count(outputs, "reasoning"),
        output_audio_tokens=_count(outputs, "audio"),
    )
    input_tokens = max(
        int(usage.get("input_tokens") or 0),
        classes.cache_read_tokens + classes.cache_write_tokens,
        classes.input_audio_tokens,
    )
    output_tokens = max(
        int(usage.get("output_tokens") or 0),
        classes.output_reasoning_tokens,
        classes.output_audio_tokens,
    )
    return ReportedTokens(input_tokens, output_tokens, classes)


@dataclass(frozen=True)
class ModelPrice:
    """Where a model's price comes from, and its USD per 1M input/output tokens."""

    model: str
    source: str  # override | genai-prices | local
    input_per_m: float
    output_per_m: float


def _spec(model: str) -> str:
    """Canonical ``provider:model`` (or ``offline``); bad specs raise ``PricingError``."""
    try:
        return str(parse_model(model))
    except ValueError as exc:
        raise PricingError(str(exc)) from None


def _override(settings: Settings, spec: str) -> Price | None:
    for key, price in settings.prices.items():
        try:
            same = str(parse_model(key)) == spec
        except ValueError:
            same = key == spec
        if same:
            return price
    return None


def _unpriced(spec: str, reason: str) -> PricingError:
    return PricingError(
        f"no known price for model {spec!r} ({reason}); add it to {env_name('prices')}, e.g. "
        f'{{"{spec}": {{"input": 0.15, "output": 0.60}}}} (USD per 1M tokens), '
        "or pick a priced model"
    )


def _library_cost(
    spec: str, input_tokens: int, output_tokens: int, classes: TokenClasses = _NONE
) -> tuple[float, float, float]:
    """(total, input part, output part) in USD from genai-prices; ``PricingError`` if unknown."""
    model = parse_model(spec)
    reported = {name: n for name, n in classes.model_dump().items() if n}
    try:
        calc = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens, **reported),
            model_ref=model.name,
            provider_id=model.provider,
        )
    except LookupError as exc:
        raise _unpriced(spec, str(exc)) from None
    except ValueError as exc:
        if not reported:
            raise
        # A split genai-prices cannot place: the totals at their full price, never less.
        logger.warning("%s usage priced without its token classes: %s", spec, exc)
        return _library_cost(spec, input_tokens, output_tokens)
    return float(calc.total_price), float(calc.input_price), float(calc.output_price)


def _override_cost(
    price: Price, input_tokens: int, output_tokens: int, classes: TokenClasses
) -> float:
    """An override's cost; cache tokens it gives no price for cost the input price."""
    read, write = classes.cache_read_tokens, classes.cache_write_tokens
    read_price = price.input if price.cache_read is None else price.cache_read
    write_price = price.input if price.cache_write is None else price.cache_write
    uncached = max(input_tokens - read - write, 0)
    return (
        uncached * price.input + read * read_price + write * write_price
        + output_tokens * price.output
    ) / _PER_MILLION  # fmt: skip


def price_of(settings: Settings, model: str) -> ModelPrice:
    """The price of ``model`` per 1M tokens; ``PricingError`` when it has none."""
    spec = _spec(model)
    override = _override(settings, spec)
    if override is not None:
        return ModelPrice(spec, "override", override.input, override.output)
    if parse_model(spec).provider in LOCAL_PROVIDERS:
        return ModelPrice(spec, "local", 0.0, 0.0)
    _, input_part, output_part = _library_cost(spec, _PER_MILLION, _PER_MILLION)
    return ModelPrice(spec, "genai-prices", input_part, output_part)


def cost_usd(
    settings: Settings,
    model: str,
    input_tokens: int,
    output_tokens: int,
    classes: TokenClasses | None = None,
) -> float:
    """What ``input_tokens`` + ``output_tokens`` of ``model`` cost in USD, ``classes`` (the
    cache, reasoning and audio tokens inside them) each at its own price."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got {input_tokens} and {output_tokens}")
    classes = classes or _NONE
    spec = _spec(model)
    override = _override(settings, spec)
    if override is not None:
        return _override_cost(override, input_tokens, output_tokens, classes)
    if parse_model(spec).provider in LOCAL_PROVIDERS:
        return 0.0
    # The library prices the exact usage, so tiered (long-context) prices apply correctly.
    return _library_cost(spec, input_tokens, output_tokens, classes)[0]


def models_in_use(settings: Settings) -> list[str]:
    """Every model the settings can call: the default, per-layer overrides and the fallback."""
    models = [settings.model, *settings.layer_models.values()]
    if settings.fallback_model:
        models.append(settings.fallback_model)
    return list(dict.fromkeys(_spec(m) for m in models))


def check_prices(settings: Settings) -> None:
    """Start-up check: raise one ``PricingError`` naming every model in use without a price."""
    missing = []
    for spec in models_in_use(settings):
        try:
            price_of(settings, spec)
        except PricingError:
            missing.append(spec)
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise PricingError(
            f"no known price for {names}; add each to {env_name('prices')} as "
            '{"provider:model": {"input": USD per 1M, "output": USD per 1M}} or pick priced models'
        )


def run_price_problems(settings: Settings, model: str | None, price_as: str | None) -> list[str]:
    """One line per pricing problem of a run: every model in use (or ``model`` and the
    fallback, when ``model`` replaces them), and ``price_as``, which is only priced."""
    problems: list[str] = []
    if model is None:
        try:
            check_prices(settings)
        except PricingError as exc:
            problems.append(str(exc))
    explicit = [model, settings.fallback_model] if model else []
    for spec in dict.fromkeys(m for m in [*explicit, price_as] if m):
        try:
            price_of(settings, spec)
        except PricingError as exc:
            problems.append(str(exc))
    return problems
