"""OpenTelemetry traces: a span per pipeline run, job, layer and model call.

Spans are exported over OTLP when the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (protocol from ``OTEL_EXPORTER_OTLP_PROTOCOL``:
``http/protobuf``, the default, or ``grpc``). Without one, ``Tracing`` is a no-op: a span is a
function call, and no provider, exporter or ``_otel`` module is loaded.

Parents are passed explicitly (``parent=``) wherever work crosses a thread (the run's jobs run
on Prefect's thread pool); within a thread, a span opened with ``span()`` is the parent of
those opened inside it. Spans carry ids, counts and money, never prompt, reply or profile text
(unless ``APPLYFLOW_TRACE_CONTENT=true``) and never secrets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

__all__ = [
    "NULL_SPAN",
    "Attributes",
    "Span",
    "Tracing",
    "attributes_of",
    "otlp_endpoint",
    "process_tracing",
    "tracing_from_env",
]

log = logging.getLogger("applyflow.tracing")

Attributes = Mapping[str, str | int | float | bool]


class Span:
    """A span's handle; this base is the no-op one (``NULL_SPAN``)."""

    def set(self, attributes: Attributes) -> None:
        """Add or replace attributes."""

    def event(self, name: str, attributes: Attributes | None = None) -> None:
        """Record something that happened at this moment (a refusal, a fallback...)."""

    def fail(self, exc: BaseException, *, detail: bool = False) -> None:
        """Mark the span failed by ``exc``: its type, and its message when ``detail``."""

    def end(self) -> None:
        """End a span from ``Tracing.start`` (``span()`` ends its own)."""


NULL_SPAN = Span()


class Tracing:
    """Where spans go; this base records nothing (no endpoint configured)."""

    enabled = False

    def __init__(self, *, content: bool = False) -> None:
        self.content = content  # APPLYFLOW_TRACE_CONTENT: prompts and replies may be recorded

    def start(
        self, name: str, *, parent: Span | None = None, attributes: Attributes | None = None
    ) -> Span:
        """A span that lasts until ``end()`` (a run, a job), not made current."""
        return NULL_SPAN

    @contextmanager
    def span(
        self, name: str, *, parent: Span | None = None, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        """A span around the block, current inside it (spans opened within are its children);
        an exception leaving the block fails it (message only for applyflow's guard errors)."""
        yield NULL_SPAN

    def current(self) -> Span:
        """The innermost ``span()`` open in this thread."""
        return NULL_SPAN

    def flush(self) -> None:
        """Export every ended span now."""


def otlp_endpoint(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(protocol, endpoint URL) the standard variables name, or None when tracing is off.

    The per-signal endpoint is used as it is; the general one gets ``/v1/traces`` for HTTP.
    """
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    general = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not traces and not general:
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    ) or "http/protobuf"
    protocol = protocol.strip().lower()
    if traces:
        return protocol, traces
    if protocol == "grpc":
        return protocol, general
    return protocol, f"{general.rstrip('/')}/v1/traces"


def tracing_from_env(env: Mapping[str, str] | None = None, *, content: bool = False) -> Tracing:
    """OTLP export when the standard variables ask for it, else the no-op ``Tracing``.

    An endpoint without the OpenTelemetry SDK installed (``pip install 'applyflow[otel]'``) or
    with an unsupported protocol logs one warning and traces nothing.
    """
    env = os.environ if env is None else env
    target = otlp_endpoint(env)
    if target is None:
        return Tracing(content=content)
    protocol, endpoint = target
    try:
        from applyflow.tracing._otel import OtelTracing
    except ImportError as exc:
        log.warning(
            "OTLP endpoint %s is set but the OpenTelemetry SDK is missing (%s): no traces; "
            "install applyflow[otel]",
            endpoint,
            exc.name,
        )
        return Tracing(content=content)
    try:
        return OtelTracing.otlp(protocol, endpoint, env, content=content)
    except ValueError as exc:
        log.warning("no traces: %s", exc)
        return Tracing(content=content)


@lru_cache(maxsize=1)
def process_tracing() -> Tracing:
    """This process's tracing, from the environment and settings, built once."""
    from applyflow.settings import get_settings

    return tracing_from_env(content=get_settings().trace_content)


def attributes_of(values: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """``values`` without the Nones (OpenTelemetry refuses them)."""
    return {key: value for key, value in values.items() if value is not None}
