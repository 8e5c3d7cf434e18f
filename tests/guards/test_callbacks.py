"""LangChain's own tracing still works through the guarded call: callbacks registered the
standard ways fire with the layer in their metadata, and LangSmith's environment switch sends
the run (to a loopback LangSmith here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.tracers.context import collect_runs, register_configure_hook

from guards.call import CallContext, ModelGuard
from tests.guards._fakes import FakeChat
from tests.loopback import Handler, serve

PROMPT = [HumanMessage('{"posting": {"title": "Data Engineer", "company": "Acme",'
                       ' "description": "Python and SQL."}}')]  # fmt: skip
CTX = CallContext(run_id="r1", job_id="j1", layer="extract")


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.ends: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.starts.append(kwargs.get("metadata") or {})

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.ends.append(response)


_hooked: ContextVar[Recorder | None] = ContextVar("applyflow_test_hooked", default=None)
# How tracing libraries plug into LangChain without touching the caller's config.
register_configure_hook(_hooked, inheritable=True)


def test_context_and_model_callbacks_fire_with_the_layer(make_settings, store) -> None:
    settings = make_settings()
    on_model = Recorder()
    fake = FakeChat(callbacks=[on_model])
    guard = ModelGuard(settings, store, model_factory=lambda m, t: fake, prefect_slots=False)
    hooked = Recorder()
    token = _hooked.set(hooked)
    try:
        with collect_runs() as collected:
            guard.call(PROMPT, model="fakeai:small", max_tokens=20, ctx=CTX)
    finally:
        _hooked.reset(token)
    for recorder in (on_model, hooked):
        ((metadata,), (end,)) = recorder.starts, recorder.ends
        assert metadata["applyflow_layer"] == "extract"
        assert end.generations[0][0].message.usage_metadata["input_tokens"] == 10
    (run,) = collected.traced_runs
    assert run.extra["metadata"]["applyflow_layer"] == "extract"
    assert run.outputs is not None


def test_langsmith_environment_switch_traces_the_guarded_call(tmp_path: Path) -> None:
    posted: list[tuple[str, bytes]] = []

    class LangSmith(Handler):
        def do_GET(self) -> None:  # noqa: N802
            self.reply(200, {})

        def do_POST(self) -> None:  # noqa: N802
            posted.append((self.path, self.body()))
            self.reply(200, {})

    code = (
        "from langchain_core.messages import HumanMessage\n"
        "from langchain_core.tracers.langchain import wait_for_all_tracers\n"
        "from applyflow.settings import load_settings\n"
        "from applyflow.store import open_store\n"
        "from guards.call import CallContext, ModelGuard\n"
        f"url = 'sqlite:///{tmp_path / 's.db'}'\n"
        "guard = ModelGuard(load_settings(store_url=url), open_store(url), prefect_slots=False)\n"
        f"guard.call([HumanMessage({json.dumps(PROMPT[0].content)})], model='offline',"
        " max_tokens=200, ctx=CallContext(layer='extract'))\n"
        "wait_for_all_tracers()\n"
    )
    with serve(LangSmith) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH", "LANGCHAIN"))}
        env |= {
            "LANGSMITH_TRACING": "true",
            "LANGSMITH_ENDPOINT": url,
            "LANGSMITH_API_KEY": "ls-test-key",
            "LANGSMITH_PROJECT": "applyflow-test",
        }
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    bodies = b"".join(body for path, body in posted if path.startswith("/runs"))
    assert b'"applyflow_layer":"extract"' in bodies.replace(b" ", b"")
    assert b"OfflineChatModel" in bodies and b"applyflow-test" in bodies
