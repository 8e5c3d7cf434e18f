"""Prices of model calls in USD: genai-prices, overridden or extended by ``APPLYFLOW_PRICES``.

A model with no known price is an error (fail closed), never $0. Local providers (``offline``,
``ollama``) cost $0 unless an override prices them.
"""

from __future__ import annotations

from dataclasses import dataclass

from genai_prices import Usage, calc_price

from applyflow.errors import PricingError
from applyflow.modelspec import LOCAL_PROVIDERS, parse_model
from applyflow.settings import Settings, env_name

__all__ = [
    "ModelPrice",
    "check_prices",
    "cost_usd",
    "models_in_use",
    "price_of",
    "run_price_problems",
]

_PER_MILLION = 1_000_000


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


def _override(settings: Settings, spec: str) -> ModelPrice | None:
    for key, price in settings.prices.items():
        try:
            same = str(parse_model(key)) == spec
        except ValueError:
            same = key == spec
        if same:
            return ModelPrice(spec, "override", price.input, price.output)
    return None


def _unpriced(spec: str, reason: str) -> PricingError:
    return PricingError(
        f"no known price for model {spec!r} ({reason}); add it to {env_name('prices')}, e.g. "
        f'{{"{spec}": {{"input": 0.15, "output": 0.60}}}} (USD per 1M tokens), '
        "or pick a priced model"
    )


def _library_cost(spec: str, input_tokens: int, output_tokens: int) -> tuple[float, float, float]:
    """(total, input part, output part) in USD from genai-prices; ``PricingError`` if unknown."""
    model = parse_model(spec)
    try:
        calc = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model_ref=model.name,
            provider_id=model.provider,
        )
    except LookupError as exc:
        raise _unpriced(spec, str(exc)) from None
    return float(calc.total_price), float(calc.input_price), float(calc.output_price)


def price_of(settings: Settings, model: str) -> ModelPrice:
    """The price of ``model`` per 1M tokens; ``PricingError`` when it has none."""
    spec = _spec(model)
    override = _override(settings, spec)
    if override is not None:
        return override
    if parse_model(spec).provider in LOCAL_PROVIDERS:
        return ModelPrice(spec, "local", 0.0, 0.0)
    _, input_part, output_part = _library_cost(spec, _PER_MILLION, _PER_MILLION)
    return ModelPrice(spec, "genai-prices", input_part, output_part)


def cost_usd(settings: Settings, model: str, input_tokens: int, output_tokens: int) -> float:
    """What ``input_tokens`` + ``output_tokens`` of ``model`` cost in USD."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got {input_tokens} and {output_tokens}")
    spec = _spec(model)
    override = _override(settings, spec)
    if override is not None:
        return (input_tokens * override.input_per_m + output_tokens * override.output_per_m) / (
            _PER_MILLION
        )
    if parse_model(spec).provider in LOCAL_PROVIDERS:
        return 0.0
    # The library prices the exact usage, so tiered (long-context) prices apply correctly.
    return _library_cost(spec, input_tokens, output_tokens)[0]


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
