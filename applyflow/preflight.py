"""Preflight: what a command checks in well under a second, before any flow starts.

The candidate profile reads and has the sections the layers need; every model the command may
call or price has a price; a paid provider has a key; ``ingest`` has a source. Each problem is
one line. Prices come from ``guards.pricing``, which the core may not import: the CLI passes
its check in (``prices``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from applyflow.errors import InputError
from applyflow.modelspec import LOCAL_PROVIDERS, parse_model
from applyflow.profile_check import check_profile, read_profile
from applyflow.settings import Settings, env_name

__all__ = ["PROVIDER_KEYS", "Preflight", "key_problems", "models_called", "preflight"]

# The variables each provider's LangChain client reads its key from. Providers not listed
# (bedrock, vertex...) authenticate their own way and are not checked.
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google_genai": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "mistralai": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "perplexity": ("PPLX_API_KEY",),
    "azure_openai": ("AZURE_OPENAI_API_KEY",),
}


@dataclass
class Preflight:
    """Problems that stop the command (``errors``) and ones worth a look (``warnings``)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def models_called(settings: Settings, model: str | None) -> list[str]:
    """The models a run may call: ``model`` (with the fallback) or every model in the settings."""
    models = [model] if model else [settings.model, *settings.layer_models.values()]
    if settings.fallback_model:
        models.append(settings.fallback_model)
    return list(dict.fromkeys(models))


def key_problems(
    settings: Settings, models: list[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """One line per paid provider among ``models`` with neither APPLYFLOW_API_KEY nor its own
    key variable set."""
    env = os.environ if env is None else env
    if settings.api_key is not None and settings.api_key.get_secret_value():
        return []
    problems = []
    providers = dict.fromkeys(parse_model(m).provider for m in models)
    for provider in providers:
        names = PROVIDER_KEYS.get(provider)
        if provider in LOCAL_PROVIDERS or names is None or any(env.get(n) for n in names):
            continue
        problems.append(
            f"no API key for {provider}: set {' or '.join(names)} (or {env_name('api_key')})"
        )
    return problems


def _profile(path: Path, flag: str) -> tuple[list[str], list[str]]:
    try:
        text = read_profile(path)
    except InputError as exc:
        return [f"{exc} (set {env_name('profile')} or {flag})"], []
    check = check_profile(text)
    return (
        [f"profile {path}: {line}" for line in check.errors],
        [f"profile {path}: {line}" for line in check.warnings],
    )


def preflight(
    settings: Settings,
    *,
    profile: Path | None = None,
    profile_flag: str = "--profile",
    calls: list[str] | None = None,
    prices: Callable[[], list[str]] | None = None,
    sources: list[str] | None = None,
    needs_sources: bool = False,
) -> Preflight:
    """Check what a command is about to use.

    profile: the profile file to read and check (None: not used).
    calls: models the command calls (their providers need keys); prices: the pricing check.
    sources: the command's sources; with ``needs_sources``, none here or in settings is an error.
    """
    result = Preflight()
    if profile is not None:
        errors, warnings = _profile(profile, profile_flag)
        result.errors += errors
        result.warnings += warnings
    if prices is not None:
        result.errors += prices()
    if calls:
        result.errors += key_problems(settings, calls)
    if needs_sources and not (sources or settings.sources):
        result.errors.append(
            f"no sources: pass SOURCE... or set {env_name('sources')} (comma-separated: files "
            "or folders of .json/.jsonl/.csv, greenhouse:BOARD, lever:COMPANY, ashby:BOARD, "
            "smartrecruiters:COMPANY, recruitee:COMPANY, workable:ACCOUNT), e.g. "
            f"{env_name('sources')}=samples/postings.json"
        )
    return result
