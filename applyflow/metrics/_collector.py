"""The Prometheus collector: every series computed from the store when Prometheus scrapes.

Nothing is counted in this process, so the numbers are right however many workers write to
the store. A scrape reads the store's rollups (usage totals, layer stats), the status counts,
the budget counters, the alert counts and the breaker states: a few small queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from applyflow.errors import StoreError
from applyflow.models import TOKEN_CLASSES, utcnow
from applyflow.settings import Settings
from applyflow.spend import budget_summary
from applyflow.store import Store
from applyflow.store.runs import LAYER_DURATION_BUCKETS

__all__ = ["BUDGET_SCOPES", "SERIES", "StoreCollector"]

log = logging.getLogger("applyflow.metrics")

BUDGET_SCOPES = ("total", "month", "day")

# Every series the exporter serves (histograms add _bucket, _sum and _count).
SERIES = {
    "applyflow_spend_usd_total": ("counter", ("provider", "model", "layer")),
    "applyflow_model_calls_total": ("counter", ("provider", "model", "layer")),
    "applyflow_tokens_total": ("counter", ("provider", "model", "direction")),
    "applyflow_token_classes_total": ("counter", ("provider", "model", "class")),
    "applyflow_budget_cap_usd": ("gauge", ("scope",)),
    "applyflow_budget_spent_usd": ("gauge", ("scope",)),
    "applyflow_budget_reserved_usd": ("gauge", ("scope",)),
    "applyflow_budget_remaining_usd": ("gauge", ("scope",)),
    "applyflow_jobs": ("gauge", ("status",)),
    "applyflow_applications_total": ("counter", ()),
    "applyflow_layer_duration_seconds": ("histogram", ("layer",)),
    "applyflow_layer_failures_total": ("counter", ("layer",)),
    "applyflow_breaker_open": ("gauge", ("provider",)),
    "applyflow_alerts_total": ("counter", ("kind",)),
    "applyflow_store_up": ("gauge", ()),
}

_HELP = {
    "applyflow_spend_usd_total": "Settled model spend in USD.",
    "applyflow_model_calls_total": "Model calls settled.",
    "applyflow_tokens_total": "Tokens billed, by direction (input, output).",
    "applyflow_token_classes_total": (
        "Tokens inside applyflow_tokens_total billed at their own price, by class (cache_read,"
        " cache_write, cache_write_1h, input_audio, output_reasoning, output_audio)."
    ),
    "applyflow_budget_cap_usd": "Spend cap of a budget scope in USD (capped scopes only).",
    "applyflow_budget_spent_usd": "Spent in the current period of a budget scope, USD.",
    "applyflow_budget_reserved_usd": "Reserved by calls in flight in a budget scope, USD.",
    "applyflow_budget_remaining_usd": "Cap minus spent and reserved, USD (capped scopes only).",
    "applyflow_jobs": "Jobs per status.",
    "applyflow_applications_total": "Applications sent (jobs with an applied date).",
    "applyflow_layer_duration_seconds": "Duration of the layer runs that completed.",
    "applyflow_layer_failures_total": "Layer runs that failed.",
    "applyflow_breaker_open": "1 while a provider's circuit breaker is open (last state stored).",
    "applyflow_alerts_total": "Alerts raised, by kind.",
    "applyflow_store_up": "1 when the last scrape could read the store.",
}


def _family(name: str) -> Metric:
    kind, labels = SERIES[name]
    if kind == "counter":
        return CounterMetricFamily(name, _HELP[name], labels=labels)
    if kind == "histogram":
        return HistogramMetricFamily(name, _HELP[name], labels=labels)
    return GaugeMetricFamily(name, _HELP[name], labels=labels)


class StoreCollector(Collector):
    """Serves ``SERIES`` from ``store``; ``providers`` always get a breaker series (0 until a
    breaker state is stored)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        providers: Sequence[str] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings, self.store = settings, store
        self.providers, self.clock = tuple(providers), clock

    def describe(self) -> Iterator[Metric]:
        """The families without samples, so registering never touches the store."""
        return (_family(name) for name in SERIES)

    def collect(self) -> Iterator[Metric]:
        up = _family("applyflow_store_up")
        try:
            families = list(self._families())
        except StoreError as exc:
            log.warning("metrics scrape could not read the store: %s", exc)
            up.add_metric([], 0)
            return iter([up])
        up.add_metric([], 1)
        return iter([*families, up])

    def _families(self) -> Iterator[Metric]:
        f = {name: _family(name) for name in SERIES if name != "applyflow_store_up"}
        tokens: dict[tuple[str, str, str], int] = {}
        classes: dict[tuple[str, str, str], int] = {}
        for t in self.store.usage_totals():
            where = [t.provider, t.model, t.layer or ""]
            f["applyflow_spend_usd_total"].add_metric(where, t.cost_usd)
            f["applyflow_model_calls_total"].add_metric(where, t.calls)
            for direction, count in (("input", t.input_tokens), ("output", t.output_tokens)):
                key = (t.provider, t.model, direction)
                tokens[key] = tokens.get(key, 0) + count
            for name in TOKEN_CLASSES:
                # A family apart: a class is part of a direction, so summing it there would
                # count its tokens twice. Only classes some call had (most models have none).
                if count := getattr(t, name):
                    key = (t.provider, t.model, name.removesuffix("_tokens"))
                    classes[key] = classes.get(key, 0) + count
        for key, count in tokens.items():
            f["applyflow_tokens_total"].add_metric(list(key), count)
        for key, count in classes.items():
            f["applyflow_token_classes_total"].add_metric(list(key), count)

        for s in budget_summary(self.settings, self.store, self.clock()):
            if s.kind not in BUDGET_SCOPES:
                continue
            f["applyflow_budget_spent_usd"].add_metric([s.kind], s.spent)
            f["applyflow_budget_reserved_usd"].add_metric([s.kind], s.reserved)
            if s.cap is not None:
                f["applyflow_budget_cap_usd"].add_metric([s.kind], s.cap)
            if s.remaining is not None:
                f["applyflow_budget_remaining_usd"].add_metric([s.kind], s.remaining)

        for status, count in self.store.status_counts().items():
            f["applyflow_jobs"].add_metric([status], count)
        applied = self.store.application_stats(self.clock(), self.settings.tz).total
        f["applyflow_applications_total"].add_metric([], applied)

        for layer in self.store.layer_stats():
            cumulative, buckets = 0, []
            for bound, count in zip(
                [*map(floatToGoString, LAYER_DURATION_BUCKETS), "+Inf"], layer.buckets, strict=True
            ):
                cumulative += count
                buckets.append((bound, cumulative))
            f["applyflow_layer_duration_seconds"].add_metric([layer.layer], buckets, layer.seconds)
            f["applyflow_layer_failures_total"].add_metric([layer.layer], layer.failures)

        stored = {b.provider: b.state for b in self.store.breaker_states()}
        for provider in sorted(set(self.providers) | set(stored)):
            f["applyflow_breaker_open"].add_metric([provider], int(stored.get(provider) == "open"))
        for kind, count in self.store.alert_counts().items():
            f["applyflow_alerts_total"].add_metric([kind], count)
        return iter(f.values())
