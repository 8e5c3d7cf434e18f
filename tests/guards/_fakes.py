"""Fake chat models for guard tests: fixed usage, optional failure or a hook run mid-call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field


class FakeChat(BaseChatModel):
    """Replies ``reply`` and reports ``input_tokens``/``output_tokens`` (None: no usage)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reply: str = "ok"
    input_tokens: int | None = 10
    output_tokens: int = 5
    error: BaseException | None = None
    during: Callable[[], None] | None = None
    calls: list[int] = Field(default_factory=list)
    lock: Any = Field(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any
    ) -> ChatResult:
        with self.lock:
            self.calls.append(1)
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        usage = None
        if self.input_tokens is not None:
            usage = {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
            }
        message = AIMessage(
            content=self.reply, usage_metadata=usage, response_metadata={"model_name": "fake"}
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class Factory:
    """A ``model_factory`` that hands out fakes per model spec and records what was built."""

    def __init__(self, **models: FakeChat) -> None:
        self.models = models
        self.built: list[tuple[str, int]] = []

    def __call__(self, model: str, max_tokens: int) -> FakeChat:
        self.built.append((model, max_tokens))
        return self.models.get(model) or self.models["default"]
