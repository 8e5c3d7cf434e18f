"""Chat model factory: LangChain's ``init_chat_model`` for ``provider:model``, or the offline model.

The guarded call (``guards/call.py``) is the only caller: layers never build models themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from applyflow.modelspec import OFFLINE, parse_model
from applyflow.offline import LAYER_KEY, OfflineChatModel
from applyflow.settings import Settings
from applyflow.strict_schema import openai_strict

__all__ = [
    "call_config",
    "constrained",
    "make_chat_model",
    "provider_kwargs",
    "reply_message",
    "structured_method",
]


def call_config(layer: str | None) -> RunnableConfig:
    """The ``invoke`` config of one call: the layer it serves, as LangChain run metadata.

    Callbacks and the offline model read it; a provider is sent only the messages.
    """
    return {"metadata": {LAYER_KEY: layer}} if layer else {}


def provider_kwargs(settings: Settings, provider: str, *, max_tokens: int) -> dict[str, Any]:
    """Constructor arguments for a provider's chat class from settings (timeouts, retries, key)."""
    if provider == "ollama":
        # ChatOllama names things its own way and takes neither a key nor max_tokens.
        kwargs: dict[str, Any] = {
            "num_predict": max_tokens,
            "client_kwargs": {"timeout": settings.model_timeout_s},
        }
        if settings.base_url:
            kwargs["base_url"] = settings.base_url
        return kwargs
    kwargs = {
        "max_tokens": max_tokens,
        "timeout": settings.model_timeout_s,
        "max_retries": settings.model_max_retries,
    }
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    if settings.api_key is not None and settings.api_key.get_secret_value():
        kwargs["api_key"] = settings.api_key.get_secret_value()
    return kwargs


def make_chat_model(settings: Settings, model: str, *, max_tokens: int) -> BaseChatModel:
    """A LangChain chat model for ``model`` (``provider:model`` or ``offline``)."""
    spec = parse_model(model)
    if spec.provider == OFFLINE:
        return OfflineChatModel(max_tokens=max_tokens)
    from langchain.chat_models import init_chat_model

    return init_chat_model(
        spec.name,
        model_provider=spec.provider,
        **provider_kwargs(settings, spec.provider, max_tokens=max_tokens),
    )


def structured_method(
    settings: Settings, model: str, profile: Mapping[str, Any] | None = None
) -> str | None:
    """How LangChain asks ``model`` for a schema-shaped reply, or None: the schema in the prompt
    only (the offline model, Ollama, or ``APPLYFLOW_STRUCTURED_OUTPUT=false``).

    ``profile`` is the chat model's LangChain profile (``structured_output``: native constrained
    output). OpenAI: the strict ``json_schema`` response format, unless the profile says the
    model has none (a ``json_schema`` request would be refused). Anthropic: its structured
    outputs (``output_config.format``, also ``json_schema`` in LangChain) where the profile says
    the model has them; older or unknown models keep forced tool use, which every Claude takes.
    """
    if not settings.structured_output:
        return None
    provider = parse_model(model).provider
    native = (profile or {}).get("structured_output")
    if provider == "openai":
        return None if native is False else "json_schema"
    if provider == "anthropic":
        return "json_schema" if native else "function_calling"
    return None


def constrained(
    chat: BaseChatModel, schema: type[BaseModel], method: str, provider: str
) -> Runnable:
    """``chat`` asked for ``schema`` by ``method``; the reply keeps its raw message (usage).

    The schema goes as JSON Schema, not the class: given the class, LangChain validates the
    reply inside the model call, so an off-schema reply (billed) would raise there, before the
    guard could settle it; the layer validates the text itself, then asks for one repair.
    OpenAI gets a complete strict response format (``strict_schema``): without ``strict: true``
    it does not constrain decoding, and LangChain's own strict conversion keeps keywords strict
    mode refuses. Anthropic's ``json_schema`` goes through LangChain (the SDK's public
    ``transform_schema``), which is what Anthropic's constrained decoding takes.
    """
    json_schema: dict[str, Any] = schema.model_json_schema()
    if method == "json_schema" and provider == "openai":
        json_schema = {
            "name": schema.__name__,
            "description": json_schema.get("description") or schema.__name__,
            "strict": True,
            "schema": openai_strict(json_schema),
        }
    return chat.with_structured_output(json_schema, method=method, include_raw=True)


def reply_message(reply: Any) -> BaseMessage:
    """The provider's message from a plain or a structured reply, its JSON as the text.

    A structured reply is ``{"raw", "parsed", "parsing_error"}``: the layer parses the raw text
    itself (with its own validation context), so ``parsed`` is not used. A tool call's
    arguments become the text of a plain message, which is also what a repair call replays.
    """
    if not isinstance(reply, dict) or "raw" not in reply:
        return reply
    raw = reply["raw"]
    calls = getattr(raw, "tool_calls", None)
    if calls and not (isinstance(raw.content, str) and raw.content.strip()):
        return AIMessage(
            content=json.dumps(calls[0].get("args") or {}, ensure_ascii=False),
            usage_metadata=raw.usage_metadata,
            response_metadata=raw.response_metadata,
        )
    return raw
