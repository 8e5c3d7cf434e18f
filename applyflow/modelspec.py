"""Model names in LangChain's ``provider:model`` form, plus the local ``offline`` model."""

from __future__ import annotations

from typing import NamedTuple

OFFLINE = "offline"
LOCAL_PROVIDERS = frozenset({"offline", "ollama"})


class ModelSpec(NamedTuple):
    provider: str
    name: str

    def __str__(self) -> str:
        return OFFLINE if self.provider == OFFLINE else f"{self.provider}:{self.name}"


def parse_model(spec: str) -> ModelSpec:
    """``openai:gpt-4o-mini`` -> (openai, gpt-4o-mini); ``offline`` -> (offline, offline)."""
    spec = spec.strip()
    if spec == OFFLINE or spec.startswith(f"{OFFLINE}:"):
        return ModelSpec(OFFLINE, OFFLINE)
    provider, sep, name = spec.partition(":")
    if not sep or not provider or not name:
        raise ValueError(
            f"model {spec!r} is not provider:model (e.g. openai:gpt-4o-mini) or offline"
        )
    return ModelSpec(provider.lower(), name)
