"""Prefect flows: ingest, the pipeline (process queue), the daily report and deployments."""
