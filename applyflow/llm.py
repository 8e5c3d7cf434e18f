"""Chat model factory: LangChain's ``init_chat_model`` for ``provider:model``, or the offline model.

The guarded call (``guards/call.py``) is the only caller: layers never build models themselves.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from applyflow.modelspec import OFFLINE, parse_model
from applyflow.offline import LAYER_KEY, OfflineChatModel
from applyflow.settings import Settings

__all__ = ["call_config", "make_chat_model", "provider_kwargs"]


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
