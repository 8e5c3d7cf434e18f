"""The Spend page's token classes: what the store holds per model, only the classes some call
had, and an empty state when no provider reported any."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from applyflow.models import TOKEN_CLASSES
from applyflow.store import Store
from tests.dashboard.conftest import NOW
from tests.dashboard.seed import Seeded
from tests.factories import make_usage

Opener = Callable[..., AppTest]


def _classes_frame(at: AppTest) -> pd.DataFrame | None:
    for element in at.dataframe:
        if "cache_read_tokens" in element.value.columns:
            return element.value
    return None


def test_spend_page_shows_each_models_token_classes_as_the_store_sums_them(
    seeded: tuple[Store, Seeded], open_app: Opener
) -> None:
    store, _ = seeded
    rows = [
        make_usage(call_id=f"cached-{i}", model="openai:gpt-4o-mini", input_tokens=13000,
                   cache_read_tokens=cached, output_tokens=900, output_reasoning_tokens=200)
        for i, cached in enumerate((3840, 1280))
    ]  # fmt: skip
    rows.append(
        make_usage(call_id="cached-2", provider="anthropic", model="anthropic:claude-sonnet-4-5",
                   input_tokens=4700, cache_read_tokens=3000, cache_write_tokens=1200,
                   cache_write_1h_tokens=400)
    )  # fmt: skip
    for row in rows:
        assert store.record_usage(row.model_copy(update={"at": NOW}))  # a new call id each
    at = open_app("spend")
    df = _classes_frame(at)
    assert df is not None
    by_model = {g.key: g for g in store.spend_by("model")}
    assert set(df["model"]) == {"openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"}
    for row in df.itertuples():
        group = by_model[row.model]
        assert row.input_tokens == group.input_tokens
        assert row.cache_read_tokens == group.cache_read_tokens
        assert row.cached_share == pytest.approx(group.cache_read_tokens / group.input_tokens)
    mini = df.set_index("model").loc["openai:gpt-4o-mini"]
    assert (mini["cache_read_tokens"], mini["output_reasoning_tokens"]) == (5120, 400)
    sonnet = df.set_index("model").loc["anthropic:claude-sonnet-4-5"]
    assert (sonnet["cache_write_tokens"], sonnet["cache_write_1h_tokens"]) == (1200, 400)
    # No call had audio: no audio columns.
    assert "input_audio_tokens" not in df.columns and "output_audio_tokens" not in df.columns
    assert set(df.columns) <= {"model", "input_tokens", "output_tokens", "cached_share",
                               *TOKEN_CLASSES}  # fmt: skip
    assert not at.error


def test_spend_page_says_when_no_call_reported_token_classes(
    seeded: tuple[Store, Seeded], open_app: Opener
) -> None:
    at = open_app("spend")  # the seed's calls report plain input and output tokens only
    assert _classes_frame(at) is None
    assert any("cached, reasoning or audio" in i.value for i in at.info)
    assert not at.error
