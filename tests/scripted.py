"""The offline model with a test's script around each call; the guard still wraps every call."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from applyflow.offline import LAYER_KEY, OfflineChatModel

__all__ = ["ScriptedOffline"]


class ScriptedOffline(OfflineChatModel):
    """Override ``before`` (see the call, block it) and ``after`` (change the reply)."""

    def before(self, layer: str | None, messages: list[BaseMessage]) -> None:
        """Called with the layer (from the run metadata) before the offline model answers."""

    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        """Called with the offline model's answer, which it may change in place."""

    # run_manager by name: LangChain passes it (and with it the layer) only to a _generate
    # that declares it.
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        layer = run_manager.metadata.get(LAYER_KEY) if run_manager else None
        self.before(layer, messages)
        result = super()._generate(messages, stop, run_manager, **kwargs)
        self.after(layer, messages, result)
        return result
