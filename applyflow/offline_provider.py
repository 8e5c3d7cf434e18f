"""The practice provider: the offline model behind an OpenAI-compatible HTTP API.

``applyflow offline-provider`` (and ``start_offline_provider`` for tests and benchmarks) serves
``POST /v1/chat/completions`` and ``GET /v1/models`` on loopback, so a paid configuration
(``APPLYFLOW_MODEL=openai:gpt-4o-mini``, ``APPLYFLOW_BASE_URL=http://127.0.0.1:8765/v1``) runs
end to end for free with every guard engaged: key, price, caps, rate windows, Prefect slots
and breakers all see a real HTTP provider.

It answers what arrives over HTTP, nothing else: the layer is the one the system prompt names
("You are the extract step of applyflow..."), the input is the first user message's JSON, as a
real provider would be sent them. The reply is the offline model's, in the form asked for:
message content (plain or ``response_format`` JSON / ``json_schema``, strict or not: the
offline model's answer already fits the layer's schema), or the arguments of the one tool a
request forces (LangChain's ``function_calling`` structured output). ``usage`` is in every
reply (LangChain's approximate counts), and output stops at ``max_tokens`` with
``finish_reason: length`` like a provider's. ``latency_s`` makes each answer take that long.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately

from applyflow.offline import fill_layer, layer_input

__all__ = [
    "DEFAULT_PORT",
    "MODELS",
    "OfflineProvider",
    "ProviderRequest",
    "layer_of",
    "start_offline_provider",
]

DEFAULT_PORT = 8765
# What /v1/models lists; any model name is answered (the price is applyflow's business).
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1")
_CHARS_PER_TOKEN = 4  # count_tokens_approximately's ratio, to cut a reply at max_tokens
_KEEP_REQUESTS = 100_000  # arrivals remembered (for tests and benchmarks), oldest dropped
_ROLE = re.compile(r"^You are the (\w+) step of applyflow", re.M)
_IMPORT = re.compile(r"^You are the profile import of applyflow", re.M)
_ROLES = {"system": SystemMessage, "developer": SystemMessage, "assistant": AIMessage}


@dataclass
class ProviderRequest:
    """One request as the provider saw it (monotonic clock)."""

    arrived: float
    layer: str | None
    model: str
    mode: str  # "text", "json_schema", "json_object" or "tool"
    strict: bool = False  # a json_schema response format sent with strict: true
    answered: float | None = None
    usage: dict[str, int] | None = None


class _BadRequest(Exception):
    pass


def _messages(body: dict[str, Any]) -> list[BaseMessage]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("'messages' must be a non-empty list")
    out: list[BaseMessage] = []
    for item in raw:
        if not isinstance(item, dict):
            raise _BadRequest("each message must be an object")
        content = item.get("content") or ""
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        out.append(_ROLES.get(str(item.get("role")), HumanMessage)(str(content)))
    return out


def layer_of(messages: list[BaseMessage]) -> str | None:
    """The applyflow layer a request serves, from its system prompt (None: not a layer's)."""
    system = "\n".join(m.text for m in messages if isinstance(m, SystemMessage))
    if found := _ROLE.search(system):
        return found.group(1)
    return "profile_import" if _IMPORT.search(system) else None


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The function a request forces (``tool_choice``), or its only tool when it requires one."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    names = [str((t.get("function") or {}).get("name")) for t in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return str(name) if name in names else None
    if choice in ("required", "any") and len(names) == 1:
        return names[0]
    return None


def _mode(body: dict[str, Any], tool: str | None) -> str:
    if tool is not None:
        return "tool"
    kind = (body.get("response_format") or {}).get("type")
    return kind if kind in ("json_schema", "json_object") else "text"


def _strict(body: dict[str, Any]) -> bool:
    spec = (body.get("response_format") or {}).get("json_schema")
    return isinstance(spec, dict) and spec.get("strict") is True


def _answer(layer: str | None, messages: list[BaseMessage]) -> str:
    if layer is None:
        return (
            "This is applyflow's offline provider: it answers applyflow's layer requests "
            "(a system prompt naming the layer, the layer's input as JSON)."
        )
    try:
        return json.dumps(fill_layer(layer, layer_input(messages)), ensure_ascii=False)
    except ValueError as exc:  # a layer the offline model has no rules for
        return json.dumps({"error": str(exc)})


def _cut(text: str, max_tokens: int | None) -> tuple[str, str]:
    """``text`` as a provider stopping at ``max_tokens`` sends it, with the finish reason."""
    if max_tokens is None or count_tokens_approximately([AIMessage(text)]) <= max_tokens:
        return text, "stop"
    overhead = count_tokens_approximately([AIMessage("")])
    return text[: max(0, max_tokens - overhead) * _CHARS_PER_TOKEN], "length"


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if not isinstance(value, int) or value < 1:
        raise _BadRequest("'max_tokens' must be a positive integer")
    return value


def completion(body: dict[str, Any], request: ProviderRequest) -> dict[str, Any]:
    """The chat completion answering ``body`` (records the usage on ``request``)."""
    messages = _messages(body)
    if body.get("stream"):
        raise _BadRequest("streaming is not supported by the offline provider")
    limit = _max_tokens(body)
    tool = _forced_tool(body)
    text, finish = _cut(_answer(request.layer, messages), limit)
    prompt = count_tokens_approximately(messages)
    output = count_tokens_approximately([AIMessage(text)])
    usage = {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}
    request.usage = usage
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool is not None:
        call = {"id": "call_offline", "type": "function"}
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{**call, "function": {"name": tool, "arguments": text}}],
        }
        finish = "tool_calls" if finish == "stop" else finish
    return {
        "id": f"chatcmpl-offline-{int(request.arrived * 1e6)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or MODELS[0]),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class OfflineProvider:
    """The server (start with ``start()`` or ``start_offline_provider``; ``url`` ends in /v1)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, latency_s: float = 0.0
    ) -> None:
        if latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {latency_s}")
        self.latency_s = latency_s
        self._requests: deque[ProviderRequest] = deque(maxlen=_KEEP_REQUESTS)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[ProviderRequest]:
        """Chat requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _record(self, request: ProviderRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start(self) -> OfflineProvider:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="offline-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> OfflineProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_offline_provider(
    host: str = "127.0.0.1", port: int = 0, *, latency_s: float = 0.0
) -> OfflineProvider:
    """An offline provider serving on a thread (port 0: a free one); ``stop()`` it after."""
    return OfflineProvider(host, port, latency_s=latency_s).start()


def _handler(provider: OfflineProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the OpenAI client pools connections
        # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
        # the client's delayed ACK of the headers: +40 ms on every keep-alive answer.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _path(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/")

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self._path()
            if path == "/v1/models":
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "applyflow-offline"}
                    for m in MODELS
                ]
                self._send(200, {"object": "list", "data": data})
            elif path.startswith("/v1/models/"):
                name = path.removeprefix("/v1/models/")
                self._send(
                    200, {"id": name, "object": "model", "created": 0, "owned_by": "applyflow"}
                )
            else:
                self._send(404, _error(f"no route GET {path}; try /v1/models", "not_found"))

        def do_POST(self) -> None:  # noqa: N802
            arrived = time.monotonic()
            body_bytes = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self._path() != "/v1/chat/completions":
                self._send(404, _error(f"no route POST {self._path()}", "not_found"))
                return
            try:
                body = json.loads(body_bytes or b"{}")
                if not isinstance(body, dict):
                    raise _BadRequest("the body must be a JSON object")
                messages = _messages(body)
                request = ProviderRequest(
                    arrived, layer_of(messages), str(body.get("model")), "text"
                )
                request.mode = _mode(body, _forced_tool(body))
                request.strict = _strict(body)
                provider._record(request)
                reply = completion(body, request)
            except (ValueError, _BadRequest) as exc:
                self._send(400, _error(f"bad request: {exc}"))
                return
            if provider.latency_s:
                time.sleep(provider.latency_s)  # the provider "thinking", as a real one does
            request.answered = time.monotonic()
            self._send(200, reply)

    return Handler
