"""Synthetic but realistic postings for the benchmarks: deterministic for a given seed."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

__all__ = ["posting_records", "write_jsonl"]

_TITLES = (
    "Backend Engineer", "Senior Python Developer", "Data Engineer", "Site Reliability Engineer",
    "Platform Engineer", "Machine Learning Engineer", "Full-Stack Developer", "DevOps Engineer",
    "Staff Software Engineer", "Analytics Engineer",
)  # fmt: skip
_SKILLS = (
    "Python", "Go", "PostgreSQL", "Kubernetes", "Terraform", "AWS", "GCP", "Kafka", "Airflow",
    "dbt", "React", "TypeScript", "Docker", "Prometheus", "Grafana", "Spark", "FastAPI", "Redis",
)  # fmt: skip
_PLACES = ("Remote (EU)", "Berlin", "Lisbon", "London, hybrid", "Amsterdam", "Remote (US)")


def _description(rng: random.Random, company: str, title: str) -> str:
    skills = rng.sample(_SKILLS, 6)
    years = rng.randint(2, 8)
    html = rng.random() < 0.3  # some sources send HTML, which ingest turns into text
    parts = [
        f"About us: {company} builds software for {rng.randint(50, 5000)} customers. "
        f"We are {rng.randint(20, 900)} people, remote-first.",
        f"What you'll do as {title}:",
        *(f"- Own and improve our {s} services end to end" for s in skills[:3]),
        "Requirements:",
        f"- {years}+ years of professional experience",
        *(f"- Production experience with {s}" for s in skills[3:]),
        "Benefits: equity, 30 days of holiday, learning budget.",
    ]
    if html:
        items = "".join(f"<li>{p[2:]}</li>" for p in parts if p.startswith("- "))
        prose = "".join(f"<p>{p}</p>" for p in parts if not p.startswith("- "))
        return f"<div>{prose}<ul>{items}</ul></div>"
    return "\n".join(parts)


def posting_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` raw posting records as a job board would send them (unique external ids)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        company = f"Company {i % 997:03d} {rng.choice(('Labs', 'Systems', 'Health', 'Energy'))}"
        title = rng.choice(_TITLES)
        out.append(
            {
                "external_id": f"bench-{seed}-{i}",
                "title": title,
                "company": company,
                "location": rng.choice(_PLACES),
                "url": f"https://careers.example.com/jobs/{seed}-{i}",
                "posted_at": f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}T09:00:00Z",
                "description": _description(rng, company, title),
            }
        )
    return out


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
