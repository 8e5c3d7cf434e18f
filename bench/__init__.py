"""applyflow benchmarks (scripts, not tests): ``python -m bench [NAME] [--quick]``.

Each benchmark module has a ``main()`` that prints a table and writes
``bench/results/<name>.json``, and a core function the smoke tests call with tiny sizes.
"""

BENCHMARKS = (
    "guard_overhead",
    "rate_utilisation",
    "budget_accuracy",
    "pipeline_throughput",
    "stats_queries",
    "ingest_rate",
    "prefect_slot",
    "paid_pipeline",
    "cli_startup",
    "preflight",
    "structured_output",
)
