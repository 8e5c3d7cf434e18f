"""Pricing: genai-prices, overrides, local models at $0, fail closed on unknown models."""

from __future__ import annotations

import pytest

from applyflow.errors import PricingError
from guards.pricing import check_prices, cost_usd, models_in_use, price_of

GPT4O = {"openai:gpt-4o": {"input": 2.5, "output": 10.0}}


def test_gpt4o_million_in_and_out_costs_12_50(make_settings) -> None:
    settings = make_settings(prices=GPT4O)
    assert cost_usd(settings, "openai:gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


def test_library_prices_known_models_without_override(make_settings) -> None:
    settings = make_settings(prices={})
    price = price_of(settings, "openai:gpt-4o-mini")
    assert price.source == "genai-prices"
    assert price.input_per_m > 0 and price.output_per_m > price.input_per_m
    expected = (1000 * price.input_per_m + 2000 * price.output_per_m) / 1_000_000
    assert cost_usd(settings, "openai:gpt-4o-mini", 1000, 2000) == pytest.approx(expected)


def test_override_wins_over_the_library(make_settings) -> None:
    settings = make_settings(prices={"openai:gpt-4o-mini": {"input": 1, "output": 1}})
    assert price_of(settings, "openai:gpt-4o-mini").source == "override"
    assert cost_usd(settings, "openai:gpt-4o-mini", 500_000, 500_000) == pytest.approx(1.0)


def test_offline_is_free_unless_overridden(make_settings) -> None:
    assert cost_usd(make_settings(prices={}), "offline", 10**6, 10**6) == 0.0
    assert cost_usd(make_settings(prices={}), "ollama:llama3", 10**6, 10**6) == 0.0
    priced = make_settings(prices={"offline": {"input": 1, "output": 3}})
    assert cost_usd(priced, "offline", 10**6, 10**6) == pytest.approx(4.0)


def test_unknown_model_fails_closed_naming_it(make_settings) -> None:
    settings = make_settings(prices={})
    with pytest.raises(PricingError, match=r"'openai:no-such-model-x'.*APPLYFLOW_PRICES"):
        cost_usd(settings, "openai:no-such-model-x", 10, 10)
    with pytest.raises(PricingError, match="'madeupco:m1'"):
        price_of(settings, "madeupco:m1")


def test_check_prices_names_every_unpriced_model_in_use(make_settings) -> None:
    settings = make_settings(
        prices={},
        model="nope:a",
        layer_models={"generate": "nope:b", "score": "openai:gpt-4o-mini"},
        fallback_model="nope:c",
    )
    assert models_in_use(settings) == ["nope:a", "nope:b", "openai:gpt-4o-mini", "nope:c"]
    with pytest.raises(PricingError) as err:
        check_prices(settings)
    message = str(err.value)
    assert all(f"'nope:{m}'" in message for m in "abc")
    assert "gpt-4o-mini" not in message
    check_prices(make_settings(prices={}, model="offline", fallback_model="openai:gpt-4o-mini"))


def test_negative_tokens_are_refused(make_settings) -> None:
    with pytest.raises(ValueError, match="token counts"):
        cost_usd(make_settings(), "fakeai:small", -1, 0)
