"""The guarded call: the single path for every model call.

breaker -> budget reservation -> Prefect slot -> rate window -> call -> settle (or release on
error), and one usage row per call. The rate window is last so that calls reach the provider
spaced as they were admitted; a refused window releases the slot and the reservation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from applyflow.errors import BudgetExceeded, GuardError
from applyflow.llm import (
    call_config,
    constrained,
    make_chat_model,
    reply_message,
    structured_method,
)
from applyflow.models import TokenClasses, UsageRecord
from applyflow.modelspec import parse_model
from applyflow.settings import Settings
from applyflow.store import Store
from applyflow.tracing import Tracing
from guards.alerts import alert
from guards.breaker import ProviderBreaker, get_breaker
from guards.budget import BudgetGuard, Reservation
from guards.concurrency import provider_slot
from guards.estimate import estimate_input_tokens, estimate_schema_tokens, message_text
from guards.pricing import cost_usd, price_of, reported_tokens
from guards.rate import RateGuard
from guards.redact import redact_exception, secret_values
from guards.sent import unanswered_after_sending
from guards.spans import call_attributes, refusal, result_attributes

__all__ = ["CallContext", "CallResult", "ModelGuard", "WaitHook"]

logger = logging.getLogger("applyflow.guards")

ModelFactory = Callable[[str, int], BaseChatModel]
WaitHook = Callable[[str, str | None], AbstractContextManager[None]]  # (kind, detail) -> block


@dataclass(frozen=True)
class CallContext:
    run_id: str | None = None
    job_id: str | None = None
    layer: str | None = None


@dataclass
class CallResult:
    message: AIMessage
    text: str
    model: str
    usage: UsageRecord
    fallback: bool
    forecast_usd: float | None
    reserved_usd: float = 0.0


class ModelGuard:
    """The single path for every model call: breaker -> budget reservation -> Prefect slot ->
    rate window -> call -> settle."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        model_factory: ModelFactory | None = None,
        prefect_slots: bool | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.prefect_slots = prefect_slots
        self.tracing = tracing or Tracing()
        self._factory = model_factory or self._default_factory
        self._models: dict[tuple[str, int], BaseChatModel] = {}
        self._models_lock = threading.Lock()
        self._shaped: dict[tuple[str, int, type[BaseModel], str], Runnable] = {}
        self.rate = RateGuard(settings, on_quota_exhausted=self._quota_exhausted)
        # Set by the run (RunContext.waiting): told where a call waits, so the run can show it.
        self.waits: WaitHook | None = None
        self.budget = BudgetGuard(settings, store, self._alert)

    # --- helpers ---------------------------------------------------------------------------
    def _default_factory(self, model: str, max_tokens: int) -> BaseChatModel:
        return make_chat_model(self.settings, model, max_tokens=max_tokens)

    def _chat_model(self, model: str, max_tokens: int) -> BaseChatModel:
        key = (model, max_tokens)
        with self._models_lock:
            chat = self._models.get(key)
        if chat is None:
            chat = self._factory(model, max_tokens)
            with self._models_lock:
                chat = self._models.setdefault(key, chat)
        return chat

    def _runnable(
        self, model: str, max_tokens: int, schema: type[BaseModel] | None
    ) -> BaseChatModel | Runnable:
        """The chat model, asked for ``schema`` where its provider takes one."""
        chat = self._chat_model(model, max_tokens)
        if schema is None:
            return chat
        method = structured_method(self.settings, model, getattr(chat, "profile", None))
        if method is None:
            return chat
        key = (model, max_tokens, schema, method)
        with self._models_lock:
            shaped = self._shaped.get(key)
        if shaped is None:
            try:
                shaped = constrained(chat, schema, method, parse_model(model).provider)
            except NotImplementedError:  # a chat class without structured output: the text
                return chat
            with self._models_lock:
                shaped = self._shaped.setdefault(key, shaped)
        return shaped

    def _schema_tokens(self, model: str, max_tokens: int, schema: type[BaseModel] | None) -> int:
        """Prompt tokens the reply's schema adds where it is sent (``_runnable``), else 0."""
        if schema is None:
            return 0
        profile = getattr(self._chat_model(model, max_tokens), "profile", None)
        if structured_method(self.settings, model, profile) is None:
            return 0
        return estimate_schema_tokens(schema)

    def _alert(self, kind: str, key: str, message: str, level: str = "warning", **kw: Any) -> bool:
        return alert(self.settings, self.store, kind, key, message, level, **kw)

    def _quota_exhausted(self, provider: str, limit: str) -> None:
        self._alert(
            "quota_exhausted",
            f"quota:{provider}:{limit}",
            f"{provider} daily quota {limit} is used up; calls are refused until it frees up",
            "error",
        )

    def _waiting(self, kind: str, provider: str) -> AbstractContextManager[None]:
        """The block as a wait of the run's (``waits``), e.g. on a full rate window."""
        return self.waits(kind, provider) if self.waits is not None else nullcontext()

    def _breaker(self, provider: str) -> ProviderBreaker:
        return get_breaker(provider, self.settings, self.store, self._alert)

    def _reserve_fallback(
        self, primary: BudgetExceeded, input_tokens: int, max_tokens: int, ctx: CallContext
    ) -> tuple[str, Reservation]:
        """Reserve on the fallback model, or re-raise the primary's ``BudgetExceeded``."""
        fallback = self.settings.fallback_model
        if not fallback:
            raise primary
        spec = str(parse_model(fallback))
        breaker = self._breaker(parse_model(spec).provider)
        breaker.check()
        try:
            reservation = self.budget.reserve(
                spec, input_tokens, max_tokens, run_id=ctx.run_id, job_id=ctx.job_id
            )
        except BudgetExceeded:
            raise primary from None
        logger.warning("%s; using the fallback model %s", primary, spec)
        self.tracing.current().event("fallback", {**refusal(primary), "applyflow.model": spec})
        return spec, reservation

    # --- the call --------------------------------------------------------------------------
    def call(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str,
        max_tokens: int,
        ctx: CallContext,
        price_as: str | None = None,
        schema: type[BaseModel] | None = None,
    ) -> CallResult:
        """Send ``messages`` to ``model`` through every guard; refusals raise before sending.

        ``schema``: the reply's shape, asked of providers that take one (``llm.structured_method``);
        the reply's text is then that JSON either way.

        One ``llm <model>`` span per call (a child of the layer's): GenAI attributes, cost and
        reservation; a refusal (budget, rate, breaker) is an event on it.
        """
        start = call_attributes(model, max_tokens, ctx.layer, ctx.run_id, ctx.job_id)
        with self.tracing.span(f"llm {model}", attributes=start) as span:
            try:
                result = self._guarded_call(
                    messages,
                    model=model,
                    max_tokens=max_tokens,
                    ctx=ctx,
                    price_as=price_as,
                    schema=schema,
                )
            except GuardError as exc:
                span.event("refused", refusal(exc))
                raise
            span.set(result_attributes(result, messages, self.tracing.content, self.settings))
            return result

    def _guarded_call(
        self,
        messages: Sequence[BaseMessage],
        *,
        model: str,
        max_tokens: int,
        ctx: CallContext,
        price_as: str | None = None,
        schema: type[BaseModel] | None = None,
    ) -> CallResult:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        messages = list(messages)
        spec = str(price_of(self.settings, model).model)  # PricingError before anything else
        if price_as is not None:
            price_of(self.settings, price_as)
        provider = parse_model(spec).provider
        input_tokens = estimate_input_tokens(messages) + self._schema_tokens(
            spec, max_tokens, schema
        )

        breaker = self._breaker(provider)
        breaker.check()
        used_fallback = False
        try:
            reservation = self.budget.reserve(
                spec, input_tokens, max_tokens, run_id=ctx.run_id, job_id=ctx.job_id
            )
        except BudgetExceeded as exc:
            spec, reservation = self._reserve_fallback(exc, input_tokens, max_tokens, ctx)
            used_fallback = True
            provider = parse_model(spec).provider
            breaker = self._breaker(provider)

        try:
            chat = self._runnable(spec, max_tokens, schema)  # built before the window
            with ExitStack() as slot:
                with self._waiting("slot", provider):
                    slot.enter_context(provider_slot(self.settings, provider, self.prefect_slots))
                # The rate window is taken last, right before the request leaves: a provider
                # counts arrivals, and waits before this point (a slot) vary per call.
                with self._waiting("rate", provider):
                    self.rate.acquire(provider, tokens=input_tokens + max_tokens)
                with breaker.guarding():
                    reply = reply_message(chat.invoke(messages, config=call_config(ctx.layer)))
        except BaseException as exc:
            # A provider may repeat the key in its error; it must not reach logs or the store.
            redact_exception(exc, secret_values(self.settings))
            why = unanswered_after_sending(exc)
            if why is None:
                self.budget.release(reservation)  # never reached the provider: nothing to bill
            else:
                self._settle_unanswered(reservation, ctx, provider, used_fallback, why)
            raise
        return self._settle(reservation, reply, ctx, provider, used_fallback, price_as)

    def _settle_unanswered(
        self,
        reservation: Reservation,
        ctx: CallContext,
        provider: str,
        used_fallback: bool,
        why: str,
    ) -> None:
        """A request the provider received but never answered may be on its bill: settle it at
        the reservation's input estimate (no output), marked ``estimated``, and say why."""
        actual = cost_usd(self.settings, reservation.model, reservation.input_tokens, 0)
        usage = UsageRecord(
            call_id=reservation.id,
            run_id=ctx.run_id,
            job_id=ctx.job_id,
            layer=ctx.layer,
            provider=provider,
            model=reservation.model,
            input_tokens=reservation.input_tokens,
            output_tokens=0,
            cost_usd=actual,
            estimated=True,
            fallback=used_fallback,
        )
        try:
            self.budget.settle(reservation, actual, usage)
        except Exception as exc:  # noqa: BLE001 - the call's own error is the one to raise
            logger.warning("could not settle call %s (%s): %s", reservation.id, why, exc)
            return
        message = (
            f"{reservation.model} call {reservation.id}: {why}; settled at its input estimate"
            f" ${actual:.6f} ({reservation.input_tokens} tokens), as the provider may bill it"
        )
        self._alert("unanswered_call", f"unanswered:{provider}", message)

    def _settle(
        self,
        reservation: Reservation,
        reply: BaseMessage,
        ctx: CallContext,
        provider: str,
        used_fallback: bool,
        price_as: str | None,
    ) -> CallResult:
        tokens = reported_tokens(getattr(reply, "usage_metadata", None))
        classes = TokenClasses() if tokens is None else tokens.classes
        if tokens is None:
            # No usage reported: the worst case is the honest number, marked as an estimate.
            input_tokens, output_tokens = reservation.input_tokens, reservation.max_tokens
            actual = reservation.amount
        else:
            input_tokens, output_tokens = tokens.input_tokens, tokens.output_tokens
            actual = cost_usd(
                self.settings, reservation.model, input_tokens, output_tokens, classes
            )
        usage = UsageRecord(
            call_id=reservation.id,
            run_id=ctx.run_id,
            job_id=ctx.job_id,
            layer=ctx.layer,
            provider=provider,
            model=reservation.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=actual,
            estimated=tokens is None,
            fallback=used_fallback,
            **classes.model_dump(),
        )
        self.budget.settle(reservation, actual, usage)
        if actual > reservation.amount:
            # The bill beat the worst-case estimate: a cap may now be passed; say so loudly.
            self._alert(
                "budget_overrun",
                f"overrun:{reservation.id}",
                f"{reservation.model} call cost ${actual:.6f}, above its ${reservation.amount:.6f}"
                f" reservation ({input_tokens} input tokens billed vs {reservation.input_tokens}"
                " estimated); spend may pass a cap",
                "error",
            )
        forecast = (
            cost_usd(self.settings, price_as, input_tokens, output_tokens, classes)
            if price_as
            else None
        )
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply.content)
        return CallResult(
            message=message,
            text=message_text(reply),
            model=reservation.model,
            usage=usage,
            fallback=used_fallback,
            forecast_usd=forecast,
            reserved_usd=reservation.amount,
        )
