"""Pricing: genai-prices, overrides, local models at $0, fail closed on unknown models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from langchain_core.messages import HumanMessage, SystemMessage

from applyflow.errors import PricingError
from applyflow.models import TokenClasses
from applyflow.money import to_nanos
from applyflow.settings import Settings
from applyflow.store import Store, open_store
from guards.call import CallContext, ModelGuard
from guards.estimate import estimate_input_tokens
from guards.pricing import check_prices, cost_usd, models_in_use, price_of, reported_tokens
from tests.loopback import Handler, serve

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


# --- billed usage: every token class the provider reports, priced like genai-prices ---------


def _library_nanos(model: str, **usage: int) -> int:
    provider, name = model.split(":", 1)
    price = calc_price(Usage(**usage), model_ref=name, provider_id=provider)
    return to_nanos(float(price.total_price))


class _Provider(Handler):
    """A loopback provider answering every request with ``answer`` (set per test)."""

    answer: dict[str, Any] = {}
    paths: list[str] = []
    url = ""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.body()
        type(self).paths.append(self.path)
        self.reply(200, type(self).answer)


def _openai_reply(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "{\"ok\": true}"}}],
        "usage": usage,
    }  # fmt: skip


def _anthropic_reply(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "{\"ok\": true}"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": usage,
    }  # fmt: skip


def _call(settings: Settings, model: str) -> tuple[Any, Store]:
    store = open_store(settings.store_url)
    guard = ModelGuard(settings, store, prefect_slots=False)
    result = guard.call(_messages(), model=model, max_tokens=400, ctx=CallContext(layer="score"))
    return result, store


@pytest.fixture
def provider() -> Iterator[type[_Provider]]:
    class Provider(_Provider):
        answer: dict[str, Any] = {}
        paths: list[str] = []

    with serve(Provider) as url:
        Provider.url = url
        yield Provider


def test_openai_cached_and_reasoning_tokens_are_billed_as_genai_prices_prices_them(
    make_settings, provider
) -> None:
    """The issue's case: cached prompt tokens billed at the cache price, not the full one."""
    provider.answer = _openai_reply({
        "prompt_tokens": 13000, "completion_tokens": 1000, "total_tokens": 14000,
        "prompt_tokens_details": {"cached_tokens": 3840, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 448, "audio_tokens": 0},
    })  # fmt: skip
    settings = make_settings(
        prices={}, model="openai:gpt-4o-mini", base_url=f"{provider.url}/v1", api_key="sk-x",
        model_max_retries=0,
    )  # fmt: skip
    result, store = _call(settings, "openai:gpt-4o-mini")
    assert provider.paths == ["/v1/chat/completions"]
    billed = _library_nanos(
        "openai:gpt-4o-mini", input_tokens=13000, cache_read_tokens=3840, output_tokens=1000,
        output_reasoning_tokens=448,
    )  # fmt: skip
    full_price = _library_nanos("openai:gpt-4o-mini", input_tokens=13000, output_tokens=1000)
    assert billed < full_price  # what applyflow recorded before: 12% more here
    assert to_nanos(result.usage.cost_usd) == billed
    row = store.usage_total()
    assert to_nanos(row.cost_usd) == billed
    assert (row.input_tokens, row.output_tokens) == (13000, 1000)
    assert (row.cache_read_tokens, row.output_reasoning_tokens) == (3840, 448)
    assert row.cache_write_tokens == row.input_audio_tokens == 0
    # The reservation stays the worst case: the input estimate at the full price.
    assert result.reserved_usd == cost_usd(
        settings, "openai:gpt-4o-mini", estimate_input_tokens(_messages()), 400
    )


def test_anthropic_cache_reads_and_writes_are_billed_as_genai_prices_prices_them(
    make_settings, provider
) -> None:
    """Anthropic reports cache tokens beside ``input_tokens`` (not inside it), writes split by
    their lifetime; LangChain adds them to the input total and we price each at its rate."""
    provider.answer = _anthropic_reply({
        "input_tokens": 500, "output_tokens": 300, "cache_read_input_tokens": 3000,
        "cache_creation_input_tokens": 1200,
        "cache_creation": {"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 400},
    })  # fmt: skip
    model = "anthropic:claude-sonnet-4-5"
    settings = make_settings(
        prices={}, model=model, base_url=provider.url, api_key="sk-ant-x", model_max_retries=0
    )
    result, store = _call(settings, model)
    assert provider.paths == ["/v1/messages"]
    billed = _library_nanos(
        model, input_tokens=4700, cache_read_tokens=3000, cache_write_tokens=1200,
        cache_write_1h_tokens=400, output_tokens=300,
    )  # fmt: skip
    plain = _library_nanos(model, input_tokens=4700, output_tokens=300)
    assert billed != plain  # reads are cheaper, writes dearer: the classes matter
    assert to_nanos(result.usage.cost_usd) == to_nanos(store.usage_total().cost_usd) == billed
    row = store.usage_total()
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens) == (4700, 3000, 1200)
    assert row.cache_write_1h_tokens == 400


def _messages() -> list[Any]:
    return [SystemMessage("You are the score step of applyflow."), HumanMessage("x" * 3000)]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # OpenAI on the flex tier: LangChain prefixes the detail keys with the tier.
        ({"input_tokens": 100, "output_tokens": 20,
          "input_token_details": {"flex_cache_read": 64, "flex": 36},
          "output_token_details": {"flex_reasoning": 8, "flex": 12}},
         (100, 20, {"cache_read_tokens": 64, "output_reasoning_tokens": 8})),
        # Anthropic without the lifetime split: the plain cache-creation count.
        ({"input_tokens": 900, "output_tokens": 5,
          "input_token_details": {"cache_read": 0, "cache_creation": 700}},
         (900, 5, {"cache_write_tokens": 700})),
        # Audio in and out.
        ({"input_tokens": 50, "output_tokens": 40, "input_token_details": {"audio": 30},
          "output_token_details": {"audio": 25}},
         (50, 40, {"input_audio_tokens": 30, "output_audio_tokens": 25})),
        # Classes that do not fit their totals (a proxy that left cache out of the input):
        # the totals are raised to hold them, so nothing is billed twice or left out.
        ({"input_tokens": 100, "output_tokens": 10,
          "input_token_details": {"cache_read": 600}, "output_token_details": {"reasoning": 30}},
         (600, 30, {"cache_read_tokens": 600, "output_reasoning_tokens": 30})),
    ],
)  # fmt: skip
def test_reported_tokens_read_every_class_langchain_exposes(usage, expected) -> None:
    tokens = reported_tokens(usage)
    assert tokens is not None
    input_tokens, output_tokens, classes = expected
    assert (tokens.input_tokens, tokens.output_tokens) == (input_tokens, output_tokens)
    assert tokens.classes == TokenClasses(**classes)


def test_no_usage_reported_is_none() -> None:
    assert reported_tokens(None) is None
    assert reported_tokens({}) is None


def test_classes_match_genai_prices_to_the_nano_dollar(make_settings) -> None:
    settings = make_settings(prices={})
    cases = [
        ("openai:gpt-4o-mini", 13000, 1000, TokenClasses(cache_read_tokens=3840)),
        ("openai:o3-mini", 2000, 3000, TokenClasses(cache_read_tokens=1024,
                                                    output_reasoning_tokens=2500)),
        ("anthropic:claude-sonnet-4-5", 10000, 800,
         TokenClasses(cache_read_tokens=6000, cache_write_tokens=3000, cache_write_1h_tokens=1000)),
    ]  # fmt: skip
    for model, input_tokens, output_tokens, classes in cases:
        reported = {k: v for k, v in classes.model_dump().items() if v}
        expected = _library_nanos(
            model, input_tokens=input_tokens, output_tokens=output_tokens, **reported
        )
        got = cost_usd(settings, model, input_tokens, output_tokens, classes)
        assert to_nanos(got) == expected, model


def test_an_override_prices_cache_tokens_at_its_cache_prices_or_the_input_price(
    make_settings,
) -> None:
    classes = TokenClasses(cache_read_tokens=400_000, cache_write_tokens=100_000)
    priced = make_settings(
        prices={"fakeai:small": {"input": 1.0, "output": 2.0, "cache_read": 0.1,
                                 "cache_write": 1.25}}
    )  # fmt: skip
    # 500k uncached at $1 + 400k read at $0.10 + 100k written at $1.25 + 1M out at $2
    assert cost_usd(priced, "fakeai:small", 1_000_000, 1_000_000, classes) == pytest.approx(2.665)
    plain = make_settings()  # no cache prices given: the input price, no discount assumed
    assert cost_usd(plain, "fakeai:small", 1_000_000, 1_000_000, classes) == pytest.approx(3.0)


def test_a_split_genai_prices_cannot_place_is_priced_at_the_full_totals(
    make_settings, caplog
) -> None:
    settings = make_settings(prices={})
    bad = TokenClasses(cache_read_tokens=5000)  # more cached than the whole input
    got = cost_usd(settings, "openai:gpt-4o-mini", 1000, 10, bad)
    full = _library_nanos("openai:gpt-4o-mini", input_tokens=1000, output_tokens=10)
    assert to_nanos(got) == full
    assert "priced without its token classes" in caplog.text
