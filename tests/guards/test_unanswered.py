"""A call that may have been billed is not free: sent then unanswered settles at the input
estimate; a call that never left releases its reservation. Real OpenAI client, loopback
servers that accept then hang or drop, and a closed port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import openai
import pytest
from langchain_core.messages import HumanMessage

from applyflow.models import utcnow
from applyflow.store import Store
from guards.call import CallContext, ModelGuard
from guards.estimate import estimate_input_tokens
from guards.pricing import cost_usd
from guards.sent import unanswered_after_sending
from tests.loopback import free_port

MODEL = "openai:gpt-4o-mini"
PROMPT = [HumanMessage("a question the provider will read")]


@contextmanager
def _server(after_reading: str) -> Iterator[str]:
    """Accepts, reads the request, then ``hang``s (until closed) or ``drop``s the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)  # the request arrived
            if after_reading == "drop":
                conn.close()
            else:
                stop.wait()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


def _guard(make_settings, store: Store, url: str) -> ModelGuard:
    settings = make_settings(
        base_url=url,
        api_key="sk-test-0000",
        model_timeout_s=0.5,
        model_max_retries=0,
        budget_total_usd=1,
    )
    return ModelGuard(settings, store, prefect_slots=False)


def _call(guard: ModelGuard) -> None:
    guard.call(PROMPT, model=MODEL, max_tokens=100, ctx=CallContext(job_id="j", layer="score"))


@pytest.mark.parametrize(
    ("after_reading", "error"),
    [("hang", openai.APITimeoutError), ("drop", openai.APIConnectionError)],
)
def test_sent_and_unanswered_settles_at_the_input_estimate(
    after_reading: str, error: type, make_settings, sqlite_store: Store
) -> None:
    with _server(after_reading) as url:
        guard = _guard(make_settings, sqlite_store, url)
        with pytest.raises(error):
            _call(guard)
    estimate = estimate_input_tokens(PROMPT)
    usage = sqlite_store.usage_total(job_id="j")
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, estimate, 0)
    assert usage.cost_usd > 0
    assert usage.cost_usd == pytest.approx(cost_usd(guard.settings, MODEL, estimate, 0))
    state = sqlite_store.scope_states(["total"], utcnow())["total"]
    assert state.reserved == 0 and state.spent == pytest.approx(usage.cost_usd)
    [alert] = [a for a in sqlite_store.list_alerts() if a.kind == "unanswered_call"]
    assert "after the request was sent" in alert.message or "without a reply" in alert.message


def test_a_call_that_never_left_releases(make_settings, sqlite_store: Store) -> None:
    guard = _guard(make_settings, sqlite_store, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(openai.APIConnectionError):  # connection refused
        _call(guard)
    assert sqlite_store.usage_total().calls == 0
    state = sqlite_store.scope_states(["total"], utcnow())["total"]
    assert (state.spent, state.reserved) == (0, 0)
    assert sqlite_store.open_reservations(utcnow()) == 0


def _wrapped(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise openai.APIConnectionError(request=httpx2.Request("POST", "http://x")) from inner
    except openai.APIConnectionError as outer:
        return outer


def test_which_errors_may_have_been_billed() -> None:
    billed = [httpx2.ReadTimeout("t"), httpx2.ReadError("r"), httpx2.RemoteProtocolError("p")]
    free = [
        httpx2.ConnectError("c"),
        httpx2.ConnectTimeout("c"),
        httpx2.PoolTimeout("p"),
        httpx2.WriteError("w"),
        ConnectionRefusedError(),
        socket.gaierror(),
        ValueError("a malformed reply"),
        RuntimeError("anything else"),
    ]
    assert all(unanswered_after_sending(_wrapped(e)) for e in billed)
    assert not any(unanswered_after_sending(_wrapped(e)) for e in free)
    assert unanswered_after_sending(httpx2.ReadTimeout("bare")) is not None
