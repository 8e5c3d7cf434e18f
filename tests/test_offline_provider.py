"""The offline provider over HTTP, as OpenAI's and LangChain's clients call it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.offline import fill_layer
from applyflow.offline_provider import OfflineProvider, layer_of, start_offline_provider
from tasks.extract import EXTRACT
from tests.samples import sample_postings

KEY = "sk-practice-0000"
APPLYFLOW = str(Path(sys.executable).parent / "applyflow")


@pytest.fixture
def provider() -> Iterator[OfflineProvider]:
    server = start_offline_provider()
    try:
        yield server
    finally:
        server.stop()


def _extract_messages() -> tuple[list, dict]:
    posting = sample_postings()[0]
    data = {"posting": {"title": posting.title, "company": posting.company,
                        "location": posting.location, "url": posting.url,
                        "description": posting.description}}  # fmt: skip
    return EXTRACT.messages(data), data


def _chat(provider: OfflineProvider, **kw) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=provider.url, api_key=KEY, max_retries=0, **kw)


def test_models_are_listed(provider: OfflineProvider) -> None:
    client = openai.OpenAI(base_url=provider.url, api_key=KEY)
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]


def test_a_layer_request_gets_the_offline_answer_with_usage(provider: OfflineProvider) -> None:
    messages, data = _extract_messages()
    reply = _chat(provider).invoke(messages)
    assert json.loads(reply.text) == fill_layer("extract", data)
    EXTRACT.parse(reply.text)  # the layer's schema accepts it
    usage = reply.usage_metadata
    assert usage and usage["input_tokens"] > 100 and usage["output_tokens"] > 10
    [seen] = provider.requests
    assert (seen.layer, seen.model, seen.mode) == ("extract", "gpt-4o-mini", "text")
    assert seen.usage == {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "total_tokens": usage["total_tokens"],
    }
    assert seen.answered is not None and seen.answered >= seen.arrived


def test_structured_output_json_schema_and_tool_calling(provider: OfflineProvider) -> None:
    messages, data = _extract_messages()
    for method in ("json_schema", "function_calling"):
        chat = _chat(provider).with_structured_output(
            EXTRACT.schema, method=method, include_raw=True
        )
        out = chat.invoke(messages)
        assert out["parsing_error"] is None, method
        assert isinstance(out["parsed"], EXTRACT.schema)
        assert out["parsed"].title == fill_layer("extract", data)["title"]
        assert out["raw"].usage_metadata["output_tokens"] > 10
    assert [r.mode for r in provider.requests] == ["json_schema", "tool"]


def test_the_layer_comes_from_the_system_prompt_only() -> None:
    assert (
        layer_of([SystemMessage("You are the score step of applyflow, ..."), HumanMessage("{}")])
        == "score"
    )
    assert layer_of([HumanMessage("You are the score step of applyflow")]) is None


def test_a_request_that_is_no_layers_gets_a_plain_answer(provider: OfflineProvider) -> None:
    reply = _chat(provider).invoke([HumanMessage("hello")])
    assert "offline provider" in reply.text and reply.usage_metadata["input_tokens"] > 0
    assert provider.requests[0].layer is None


def test_replies_stop_at_max_tokens(provider: OfflineProvider) -> None:
    messages, _ = _extract_messages()
    client = openai.OpenAI(base_url=provider.url, api_key=KEY, max_retries=0)
    body = [{"role": m.type.replace("human", "user"), "content": m.text} for m in messages]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=body, max_tokens=20)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens <= 20


def test_bad_requests_get_a_400_in_openai_form(provider: OfflineProvider) -> None:
    url = f"{provider.url}/chat/completions"
    streamed = b'{"messages": [{"role": "user", "content": "x"}], "stream": true}'
    for body in (b"{not json", b"[]", b'{"messages": []}', streamed):
        response = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert response.json()["error"]["message"].startswith("bad request: ")
    assert httpx.get(f"{provider.url}/nothing").status_code == 404


def test_latency_is_how_long_an_answer_takes() -> None:
    with start_offline_provider(latency_s=0.2) as server:
        _chat(server).invoke([HumanMessage("hello")])
        [seen] = server.requests
    assert seen.answered is not None and seen.answered - seen.arrived >= 0.2


def test_a_port_in_use_is_an_oserror(provider: OfflineProvider) -> None:
    port = int(provider.url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        OfflineProvider("127.0.0.1", port)


def test_the_command_serves_until_stopped_and_says_where(tmp_path) -> None:
    proc = subprocess.Popen(
        [APPLYFLOW, "offline-provider", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # the JSON object, then the server runs
            lines.append(line)
            if line.startswith("}"):
                break
        url = json.loads("".join(lines))["url"]
        client = openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)
        assert "gpt-4o-mini" in [m.id for m in client.models.list()]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0  # Ctrl+C is a clean stop


def test_the_command_refuses_a_busy_port_and_a_negative_latency(
    provider: OfflineProvider,
) -> None:
    port = provider.url.rsplit(":", 1)[1].split("/")[0]
    busy = CliRunner().invoke(app, ["offline-provider", "--port", port])
    assert busy.exit_code == 1
    [line] = busy.output.strip().splitlines()
    assert line.startswith(f"error: cannot serve on 127.0.0.1:{port}: ")
    negative = CliRunner().invoke(app, ["offline-provider", "--latency-s", "-1"])
    assert negative.exit_code == 2 and "--latency-s must be 0 or more" in negative.output
