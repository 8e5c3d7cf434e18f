"""Loopback OTLP receivers for the trace tests: HTTP/protobuf and gRPC, decoding what applyflow
exports with opentelemetry-proto into plain spans."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.loopback import Handler, serve

__all__ = ["Received", "ReceivedSpan", "grpc_receiver", "http_receiver"]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@dataclass
class ReceivedSpan:
    name: str
    span_id: bytes
    parent_id: bytes
    trace_id: bytes
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status: int  # 0 unset, 1 ok, 2 error
    status_message: str
    resource: dict[str, Any]

    def text(self) -> str:
        """Everything the span says, as text (to look for what must not be there)."""
        return repr((self.name, self.attributes, self.events, self.status_message, self.resource))


@dataclass
class Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for s in scope.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=s.name, span_id=s.span_id, parent_id=s.parent_span_id,
                                trace_id=s.trace_id,
                                attributes={a.key: _value(a.value) for a in s.attributes},
                                events=[(e.name, {a.key: _value(a.value) for a in e.attributes})
                                        for e in s.events],
                                status=s.status.code, status_message=s.status.message,
                                resource=resource,
                            )
                        )  # fmt: skip

    def named(self, prefix: str) -> list[ReceivedSpan]:
        with self.lock:
            return [s for s in self.spans if s.name.startswith(prefix)]


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/HTTP receiver on loopback: yields (base URL, what it received)."""
    received = Received()

    class Collector(Handler):
        def do_POST(self) -> None:
            if self.path != "/v1/traces":
                self.reply(404)
                return
            received.add(self.body())
            reply = ExportTraceServiceResponse().SerializeToString()
            self.reply(200, reply, {"Content-Type": "application/x-protobuf"})

    with serve(Collector) as url:
        yield url, received


@contextmanager
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    """An OTLP/gRPC receiver on loopback: yields (endpoint URL, what it received)."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:  # noqa: N802
            received.add(request.SerializeToString())
            return ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)
