"""Guards on every model call: pricing, budget reservations, rate limits, Prefect concurrency
slots, circuit breakers and alerts. Layers use ``guards.call.ModelGuard.call``; nothing else calls
a model.

No names are re-exported here: import each from its module (``guards.call``, ``guards.budget``,
``guards.pricing``, ``guards.rate``, ``guards.rate_sqlite``, ``guards.concurrency``,
``guards.breaker``, ``guards.alerts``, ``guards.health``, ``guards.redact``), so a process that
needs only ``guards.rate`` (a worker, a benchmark) never loads LangChain.
"""
