"""Pipeline flow fixtures: settings from env on a temp store, a scriptable offline model."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from applyflow.offline import layer_input
from applyflow.runtime import Runtime, use_runtime
from applyflow.settings import get_settings
from applyflow.store import Store
from applyflow.store.sqlite import SQLiteStore
from tests.samples import add_sample_jobs
from tests.scripted import ScriptedOffline

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Script:
    """What the test model does per layer: count calls, block on a gate, or reply garbage."""

    calls: Counter = field(default_factory=Counter)  # (job title, layer) -> calls
    gates: dict[str, tuple[threading.Event, threading.Event]] = field(default_factory=dict)
    garbage: set[tuple[str, str]] = field(default_factory=set)  # (job title, layer)
    lock: threading.Lock = field(default_factory=threading.Lock)


SCRIPT = Script()


def _title(messages: list[BaseMessage]) -> str:
    return str((layer_input(messages).get("posting") or {}).get("title"))


class ScriptedModel(ScriptedOffline):
    """The offline model, plus the test's script (the guard still wraps every call)."""

    def before(self, layer: str | None, messages: list[BaseMessage]) -> None:
        with SCRIPT.lock:
            SCRIPT.calls[(_title(messages), layer)] += 1
        if layer in SCRIPT.gates:
            entered, release = SCRIPT.gates[layer]
            entered.set()
            assert release.wait(60), "the test never released the gate"

    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        if (_title(messages), layer) in SCRIPT.garbage:
            result.generations[0].message.content = "Sure! Here is the JSON you asked for."


@dataclass
class Env:
    store: Store
    tmp: Path
    set: Callable[..., None]

    def add_jobs(self, n: int, *, description: str = "", skip: int = 0) -> list[str]:
        """Insert ``n`` distinct sample postings (after the first ``skip``) and return ids."""
        return add_sample_jobs(self.store, n, skip=skip, description=description)


@pytest.fixture
def pipeline_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[Env]:
    """Settings pointing at a temp SQLite store and output folder; the scripted model."""
    db = tmp_path / "applyflow.db"

    def set_env(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"APPLYFLOW_{name.upper()}", str(value))
        get_settings.cache_clear()

    set_env(
        store_url=f"sqlite:///{db}",
        output_dir=tmp_path / "out",
        profile=ROOT / "samples" / "profile.md",
        job_concurrency=2,
        budget_total_usd=1000,
    )
    SCRIPT.calls.clear()
    SCRIPT.gates.clear()
    SCRIPT.garbage.clear()
    scripted = Runtime(model_factory=lambda spec, max_tokens: ScriptedModel(max_tokens=max_tokens))
    store = SQLiteStore(f"sqlite:///{db}")
    try:
        with use_runtime(scripted):
            yield Env(store, tmp_path, set_env)
    finally:
        store.close()
        get_settings.cache_clear()
