"""Prefect tasks: ingest sources and one module per pipeline layer."""
