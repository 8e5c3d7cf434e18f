"""A loopback server speaking the OpenAI chat completions API, with per-request fault injection.

Replies are the offline model's schema-valid answer for the layer the system prompt names
("You are the extract step of applyflow...", all a provider is told), with
``usage`` like a real provider. Faults are queued (``script``), matched per request (``on``)
or mixed in at a rate (``bad_schema_every=N``: every Nth request no script or rule claims):

ok          200 with a schema-valid reply and usage (billed)
429         429 with ``Retry-After`` (seconds)
500 / 503   a server error (503 carries ``Retry-After`` when one is given)
hang        no answer until ``release_hangs()`` or ``hang_s`` passes (past the client timeout)
reset       the TCP connection is reset after the request is read
malformed   200 with a body that is not JSON
bad_schema  200, valid JSON, but the content fails the layer schema (billed); under a strict
            json_schema, constrained decoding: the reply fits the sent schema (see below)
oversized   200 with a multi-megabyte content string (billed)
echo_key    401 whose message repeats the API key it was sent (a careless proxy)
gate        like ok, but only once ``open_gate()`` is called (a call in flight, held by the test)

``response_format`` is honoured the way OpenAI does (``strict_mode`` is this server's model of
it, not OpenAI itself): a ``json_schema`` sent with ``strict: true`` is checked first, and one
strict mode refuses gets a 400 ``invalid_request_error`` naming the problem (fault
``refused``, nothing billed, no scripted fault used up); an accepted one constrains decoding,
so ``ok``, ``gate`` and ``bad_schema`` replies are the model's answer forced into the sent
schema (``strict_mode.constrain``). ``strict: false``, ``json_object`` or no format: best
effort, the faults pass through unchanged.

Every request is recorded (arrival time, fault, status, usage sent, its response format) so
tests assert on what the provider really saw and billed. ``latency_s`` makes each good answer
take that long, so calls overlap the way they do at a real provider.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from applyflow.offline import fill_layer, layer_input
from tests.reliability.strict_mode import constrain, schema_problems

__all__ = ["FAULTS", "FakeOpenAI", "Request", "running"]

FAULTS = (
    "ok",
    "429",
    "500",
    "503",
    "hang",
    "reset",
    "malformed",
    "bad_schema",
    "oversized",
    "echo_key",
    "gate",
)
OVERSIZED_BYTES = 3 * 1024 * 1024
_OFF_SCHEMA = {"unexpected": "a reply that matches no layer schema"}


@dataclass
class Request:
    """One request as the server saw it, and what it answered."""

    at: float  # time.monotonic() on arrival
    fault: str
    layer: str | None
    title: str | None
    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # as sent (role, content)
    status: int | None = None
    usage: dict[str, int] | None = None  # the usage the response carried (a billed call)
    answered: float | None = None  # time.monotonic() when the answer was sent
    response_format: dict[str, Any] | None = None  # as sent
    schema_problems: list[str] = field(default_factory=list)  # why a strict schema was refused

    @property
    def strict_schema(self) -> dict[str, Any] | None:
        """The schema of a ``json_schema`` response format sent with ``strict: true``."""
        spec = (self.response_format or {}).get("json_schema")
        if not isinstance(spec, dict) or spec.get("strict") is not True:
            return None
        return spec.get("schema")

    @property
    def repair(self) -> bool:
        """A follow-up call: the conversation already holds a reply of the model's."""
        return any(m.get("role") == "assistant" for m in self.messages)


@dataclass
class _Rule:
    match: Callable[[Request], bool]
    fault: str
    times: int | None  # None: every matching request


@dataclass
class _State:
    queue: list[str] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hang_release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    at_gate: threading.Event = field(default_factory=threading.Event)
    bad_schema_every: int | None = None
    unclaimed: int = 0  # requests no script or rule claimed (the mix counts them)


def _messages(body: dict[str, Any]) -> list[BaseMessage]:
    kinds = {"system": SystemMessage, "developer": SystemMessage, "assistant": AIMessage}
    out: list[BaseMessage] = []
    for item in body.get("messages", []):
        content = item.get("content") or ""
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        out.append(kinds.get(item.get("role"), HumanMessage)(content))
    return out


_ROLE = re.compile(r"^You are the (\w+) step of applyflow", re.M)


def _layer_and_input(messages: list[BaseMessage]) -> tuple[str | None, dict[str, Any]]:
    """The layer the system prompt names, and the input JSON of the first user message."""
    system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
    found = _ROLE.search(system)
    return (found.group(1) if found else None), layer_input(messages)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAI:
    """The server; ``url`` is the base URL to give ``APPLYFLOW_BASE_URL``."""

    def __init__(
        self,
        *,
        retry_after_s: float = 1.0,
        hang_s: float = 10.0,
        latency_s: float = 0.0,
        bad_schema_every: int | None = None,
    ) -> None:
        self.retry_after_s, self.hang_s = retry_after_s, hang_s
        self.latency_s = latency_s  # how long an answer takes, as a real provider's would
        self.state = _State()
        self.mix(bad_schema_every=bad_schema_every)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- scripting ---------------------------------------------------------------------------
    def script(self, *faults: str) -> None:
        """Answer the next requests with these faults, in order (then ``ok``)."""
        unknown = set(faults) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}; known: {FAULTS}"
        with self.state.lock:
            self.state.queue.extend(faults)

    def on(self, match: Callable[[Request], bool], fault: str, times: int | None = None) -> None:
        """Answer requests matching ``match`` with ``fault`` (``times`` times, or always)."""
        assert fault in FAULTS, fault
        with self.state.lock:
            self.state.rules.append(_Rule(match, fault, times))

    def mix(self, *, bad_schema_every: int | None) -> None:
        """Answer every Nth request that no script or rule claims with ``bad_schema`` (a known
        share of off-schema answers, 1/N, counted from here); None: no mix."""
        assert bad_schema_every is None or bad_schema_every >= 1, bad_schema_every
        with self.state.lock:
            self.state.bad_schema_every, self.state.unclaimed = bad_schema_every, 0

    def heal(self) -> None:
        """The provider recovers: no more queued, matched or mixed-in faults."""
        with self.state.lock:
            self.state.queue.clear()
            self.state.rules.clear()
            self.state.bad_schema_every = None

    def release_hangs(self) -> None:
        self.state.hang_release.set()

    def open_gate(self) -> None:
        self.state.gate.set()

    @property
    def requests(self) -> list[Request]:
        with self.state.lock:
            return list(self.state.requests)

    def billed(self) -> list[Request]:
        """Requests answered with a usage object (what the provider would charge for)."""
        return [r for r in self.requests if r.usage is not None]

    # --- serving -----------------------------------------------------------------------------
    def _pick(self, request: Request) -> str:
        with self.state.lock:
            for rule in self.state.rules:
                if rule.times != 0 and rule.match(request):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
            if self.state.queue:
                return self.state.queue.pop(0)
            self.state.unclaimed += 1
            every = self.state.bad_schema_every
            return "bad_schema" if every and self.state.unclaimed % every == 0 else "ok"

    def _reply(self, body: dict[str, Any], fault: str, request: Request) -> tuple[int, bytes]:
        messages = _messages(body)
        layer, data = _layer_and_input(messages)
        schema = request.strict_schema
        if fault == "oversized":
            content = json.dumps({"junk": "x" * OVERSIZED_BYTES})
        elif schema is not None:
            # Constrained decoding: what the model meant, in the sent schema's shape (the stray
            # key of a bad_schema reply cannot be written).
            meant = fill_layer(layer, data) if layer is not None else {}
            if fault == "bad_schema":
                meant = {**meant, **_OFF_SCHEMA}
            content = json.dumps(constrain(meant, schema), ensure_ascii=False)
        elif fault == "bad_schema":
            content = json.dumps(_OFF_SCHEMA)
        elif layer is not None:
            content = json.dumps(fill_layer(layer, data), ensure_ascii=False)
        else:
            content = "ok"
        prompt = sum(_tokens(m.text) for m in messages)
        # A provider bills at most max_tokens of output, whatever it sent.
        completion = min(_tokens(content), int(body.get("max_tokens") or 10**9))
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        request.usage = usage
        reply = {
            "id": f"chatcmpl-{len(self.state.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return 200, json.dumps(reply).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms (ACK)

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                layer, data = _layer_and_input(_messages(body))
                posting = data.get("posting") if isinstance(data, dict) else None
                request = Request(
                    at=time.monotonic(),
                    fault="?",
                    layer=layer,
                    title=(posting or {}).get("title"),
                    model=str(body.get("model")),
                    messages=list(body.get("messages", [])),
                    response_format=body.get("response_format"),
                )
                schema = request.strict_schema
                if schema is not None:
                    request.schema_problems = schema_problems(schema)
                # OpenAI checks the request before any answer: a refused one uses up no fault.
                refused = bool(request.schema_problems)
                request.fault = fault = "refused" if refused else fake._pick(request)
                with fake.state.lock:
                    fake.state.requests.append(request)
                if refused:
                    self._refuse(body, request)
                else:
                    self._answer(fault, body, request)
                request.answered = time.monotonic()

            def _refuse(self, body: dict[str, Any], request: Request) -> None:
                name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
                message = f"Invalid schema for response_format {name!r}: " + " ".join(
                    request.schema_problems
                )
                error = {"message": message, "type": "invalid_request_error",
                         "param": "response_format", "code": None}  # fmt: skip
                request.status = 400
                self._send(400, json.dumps({"error": error}).encode())

            def _answer(self, fault: str, body: dict[str, Any], request: Request) -> None:
                error = json.dumps({"error": {"message": f"injected {fault}", "type": fault}})
                retry = {"Retry-After": f"{fake.retry_after_s:g}"}
                if fault == "echo_key":
                    request.status = 401
                    key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    message = f"Incorrect API key provided: {key}. Check your key."
                    body_ = {"error": {"message": message, "type": "invalid_request_error"}}
                    self._send(401, json.dumps(body_).encode())
                elif fault == "429":
                    request.status = 429
                    self._send(429, error.encode(), retry)
                elif fault in ("500", "503"):
                    request.status = int(fault)
                    self._send(int(fault), error.encode(), retry if fault == "503" else None)
                elif fault == "hang":
                    fake.state.hanging.set()
                    fake.state.hang_release.wait(fake.hang_s)
                    self.close_connection = True
                elif fault == "reset":
                    # SO_LINGER 0 makes close() send RST: the client sees a connection reset.
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    self.close_connection = True
                elif fault == "malformed":
                    request.status = 200
                    self._send(200, b'{"id": "chatcmpl-x", "choices": [{"message": ')
                else:
                    if fault == "gate":
                        fake.state.at_gate.set()
                        fake.state.gate.wait(fake.hang_s)
                    elif fake.latency_s:
                        time.sleep(fake.latency_s)  # the provider thinking, not a wait for sync
                    status, payload = fake._reply(body, fault, request)
                    request.status = status
                    self._send(status, payload)

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True  # the client gave up (timeout) or we reset

        return Handler

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_hangs()
        self.open_gate()
        self.server.shutdown()
        self.server.server_close()


def running(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """Generator for fixtures: a started server, stopped afterwards."""
    server = FakeOpenAI(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
