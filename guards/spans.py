"""What a model call's span says: the OpenTelemetry GenAI attributes, cost and reservation,
and the refusals. Text (prompts, replies) only when tracing content is on, secrets masked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage

from applyflow.errors import (
    BudgetExceeded,
    CircuitOpen,
    GuardError,
    PricingError,
    RateLimited,
    scope_label,
)
from applyflow.modelspec import parse_model
from applyflow.settings import Settings
from applyflow.tracing import attributes_of
from guards.redact import redact, secret_values

if TYPE_CHECKING:
    from guards.call import CallResult

__all__ = ["call_attributes", "refusal", "result_attributes"]

_REFUSALS = (
    (BudgetExceeded, "budget"),
    (RateLimited, "rate"),
    (CircuitOpen, "breaker"),
    (PricingError, "pricing"),
)


def _named(model: str) -> tuple[str | None, str]:
    try:
        spec = parse_model(model)
    except ValueError:
        return None, model
    return spec.provider, spec.name


def call_attributes(
    model: str, max_tokens: int, layer: str | None, run_id: str | None, job_id: str | None
) -> dict[str, Any]:
    system, name = _named(model)
    return attributes_of(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": system,
            "gen_ai.request.model": name,
            "gen_ai.request.max_tokens": max_tokens,
            "applyflow.layer": layer,
            "applyflow.run_id": run_id,
            "applyflow.job_id": job_id,
        }
    )


def _messages(messages: Sequence[BaseMessage], secrets: list[str]) -> str:
    plain = [{"role": m.type, "content": m.content} for m in messages]
    return redact(json.dumps(plain, ensure_ascii=False), secrets)


def result_attributes(
    result: CallResult, messages: Sequence[BaseMessage], content: bool, settings: Settings
) -> dict[str, Any]:
    """Usage, cost and reservation of a settled call (and its text when ``content``)."""
    usage = result.usage
    attributes: dict[str, Any] = {
        "gen_ai.system": usage.provider,  # the fallback's, when it was used
        "gen_ai.response.model": _named(result.model)[1],
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "applyflow.cost_usd": usage.cost_usd,
        "applyflow.reserved_usd": result.reserved_usd,
        "applyflow.fallback": result.fallback,
        "applyflow.estimated": usage.estimated,
        "applyflow.call_id": usage.call_id,
    }
    if content:
        secrets = secret_values(settings)
        attributes["gen_ai.input.messages"] = _messages(messages, secrets)
        attributes["gen_ai.output.messages"] = _messages([result.message], secrets)
    return attributes


def refusal(exc: GuardError) -> dict[str, Any]:
    """A guard's refusal as event attributes: which guard, why, and a budget's numbers."""
    kind = next((name for cls, name in _REFUSALS if isinstance(exc, cls)), "guard")
    attributes: dict[str, Any] = {"applyflow.refusal": kind, "applyflow.reason": str(exc)}
    if isinstance(exc, BudgetExceeded):
        attributes |= {
            "applyflow.budget.scope": scope_label(exc.scope),
            "applyflow.budget.cap_usd": exc.cap,
            "applyflow.budget.spent_usd": exc.spent,
            "applyflow.budget.reserved_usd": exc.reserved,
            "applyflow.budget.needed_usd": exc.needed,
        }
    return attributes
