"""Tracing on the OpenTelemetry SDK with an OTLP exporter (imported only when an endpoint is set).

applyflow keeps its own ``TracerProvider`` rather than the global one, so it exports its own
spans only (Prefect's run telemetry stays off unless configured on its own).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from applyflow.errors import GuardError
from applyflow.tracing import Attributes, Span, Tracing

PROTOCOLS = ("http/protobuf", "grpc")


class OtelSpan(Span):
    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def set(self, attributes: Attributes) -> None:
        self.span.set_attributes(dict(attributes))

    def event(self, name: str, attributes: Attributes | None = None) -> None:
        self.span.add_event(name, dict(attributes or {}))

    def fail(self, exc: BaseException, *, detail: bool = False) -> None:
        kind = type(exc).__name__
        described = f"{kind}: {exc}"[:500] if detail else kind
        self.span.set_status(Status(StatusCode.ERROR, described))
        attributes = {"exception.type": kind}
        if detail:
            attributes["exception.message"] = str(exc)[:500]
        self.span.add_event("exception", attributes)

    def end(self) -> None:
        self.span.end()


def _service_name(env: Mapping[str, str]) -> str:
    """``OTEL_SERVICE_NAME``, else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, else ours."""
    if name := env.get("OTEL_SERVICE_NAME", "").strip():
        return name
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == SERVICE_NAME and value.strip():
            return value.strip()
    return "applyflow"


def _exporter(protocol: str, endpoint: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=endpoint)


class OtelTracing(Tracing):
    """Spans batched and exported by ``exporter``; headers, timeouts and TLS files come from
    the standard ``OTEL_EXPORTER_OTLP_*`` variables, read by the exporter itself."""

    enabled = True

    def __init__(
        self, exporter: SpanExporter, *, resource: Resource | None = None, content: bool = False
    ) -> None:
        super().__init__(content=content)
        self.provider = TracerProvider(resource=resource or Resource.create())
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self.provider.get_tracer("applyflow")

    @classmethod
    def otlp(
        cls, protocol: str, endpoint: str, env: Mapping[str, str], *, content: bool = False
    ) -> OtelTracing:
        """OTLP over ``protocol`` to ``endpoint``; ``ValueError`` for another protocol."""
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use one of {PROTOCOLS}"
            )
        resource = Resource.create({SERVICE_NAME: _service_name(env)})
        return cls(_exporter(protocol, endpoint), resource=resource, content=content)

    @staticmethod
    def _context(parent: Span | None) -> trace.Context | None:
        return trace.set_span_in_context(parent.span) if isinstance(parent, OtelSpan) else None

    def start(
        self, name: str, *, parent: Span | None = None, attributes: Attributes | None = None
    ) -> Span:
        span = self._tracer.start_span(
            name, context=self._context(parent), attributes=dict(attributes or {})
        )
        return OtelSpan(span)

    @contextmanager
    def span(
        self, name: str, *, parent: Span | None = None, attributes: Attributes | None = None
    ) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name,
            context=self._context(parent),
            attributes=dict(attributes or {}),
            record_exception=False,  # its stack trace and message may quote anything
            set_status_on_exception=False,
        ) as span:
            handle = OtelSpan(span)
            try:
                yield handle
            except BaseException as exc:
                handle.fail(exc, detail=isinstance(exc, GuardError) or self.content)
                raise

    def current(self) -> Span:
        span = trace.get_current_span()
        return OtelSpan(span) if span.is_recording() else Span()

    def flush(self) -> None:
        self.provider.force_flush()
