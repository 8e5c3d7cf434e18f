"""What a run takes from the world: chat models, stores, the clock, sleeping and the web.

Passed in, never patched: ``Runtime()`` is production; a test (or an embedder) builds its own
and hands it over with ``use_runtime(...)`` around a flow or CLI call, or in the dashboard's
session state. Flows read ``current_runtime()`` once at start and give it to their tasks through
the run context.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from applyflow.models import utcnow
from applyflow.store import Store, open_store
from applyflow.tracing import Tracing, process_tracing

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "PRODUCTION",
    "ModelFactory",
    "Runtime",
    "StoreFactory",
    "current_runtime",
    "use_runtime",
]

ModelFactory = Callable[[str, int], "BaseChatModel"]  # (provider:model, max_tokens) -> model
StoreFactory = Callable[[str], Store]  # store URL -> store


@dataclass(frozen=True)
class Runtime:
    """Dependencies of a run, with production defaults."""

    # None: the chat model that settings describe (applyflow.llm.make_chat_model).
    model_factory: ModelFactory | None = None
    store_factory: StoreFactory = open_store
    clock: Callable[[], datetime] = utcnow  # aware UTC "now"
    sleep: Callable[[float], None] = time.sleep
    # HTTP policy: fetch loopback and private addresses too (a test's local web site); the
    # default fetches public hosts only.
    allow_private_hosts: bool = False
    # None: spans go where the OTEL_EXPORTER_OTLP_* variables say (nowhere when unset).
    tracing: Tracing | None = None

    def tracer(self) -> Tracing:
        """Where this run's spans go."""
        return self.tracing or process_tracing()


PRODUCTION = Runtime()
_current: ContextVar[Runtime | None] = ContextVar("applyflow_runtime", default=None)


def current_runtime() -> Runtime:
    """The runtime in force here: the innermost ``use_runtime``, else the production one."""
    return _current.get() or PRODUCTION


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Run the block (flows, CLI commands and the tasks they start) with ``runtime``."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)
