"""Parts of the Jobs page's detail view: fit colour, the claims check, keyword coverage and
the published files to download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from applyflow.models import Job
from dashboard import ui

__all__ = [
    "MIME",
    "downloads",
    "fields_table",
    "fit_colour",
    "present",
    "verification_and_coverage",
]

MIME = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".md": "text/markdown",
}
_KINDS = {".pdf": "PDF", ".docx": "DOCX", ".md": "Markdown"}
_PER_ROW = 4
# Fit from 0 to 100 as Streamlit colour names: red low, green high.
_FIT_STEPS = ((40, "red"), (60, "orange"), (75, "yellow"), (101, "green"))


def present(value: Any) -> bool:
    """Whether a field has something to show (no ``None``, empty text or empty lists)."""
    return value not in (None, "", [], {}) and not (isinstance(value, float) and pd.isna(value))


def fit_colour(fit: int | None) -> str:
    """A fit score's colour: red below 40, orange below 60, yellow below 75, else green."""
    if fit is None:
        return "gray"
    return next(colour for bound, colour in _FIT_STEPS if fit < bound)


def fields_table(output: dict[str, Any]) -> pd.DataFrame:
    """A layer output as field/value rows (lists joined, nested values as text), empty ones
    left out."""
    rows = []
    for key, value in output.items():
        if not present(value):
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items() if present(v))
        rows.append({"field": key.replace("_", " "), "value": str(value)})
    return pd.DataFrame(rows, columns=["field", "value"])


def _words(items: list[str]) -> str:
    return ", ".join(items) if items else "_none_"


def verification_and_coverage(job: Job) -> None:
    """The claims check of the documents and the CV's keyword coverage, when computed."""
    check, coverage = job.verification, job.coverage
    if check is None and coverage is None:
        ui.empty("No documents checked yet: generate and publish run the checks.")
        return
    st.markdown("**Claims check**")
    if check is None:
        st.caption("Not checked.")
    elif check.unsupported:
        st.warning(
            f"{len(check.unsupported)} of {check.checked} facts are not in the profile: read "
            "them before sending, then mark the job ready (`applyflow mark ID ready`).",
            icon=":material/fact_check:",
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {"document": c.document.replace("_", " "), "kind": c.kind, "claim": c.text}
                    for c in check.unsupported
                ]
            ),
            hide_index=True,
        )
    else:
        st.success(
            f"All {check.checked} facts checked are in the profile.", icon=":material/check:"
        )
    st.markdown("**Keyword coverage**")
    if coverage is None:
        st.caption("Not published yet.")
        return
    st.metric(
        "Posting keywords the CV covers",
        f"{coverage.percent}%",
        help=f"{len(coverage.covered)} of {len(coverage.keywords)} keywords",
    )
    st.markdown(
        f"Covered: {_words(coverage.covered)}\n\n"
        f"In the profile, left out of the CV: {_words(coverage.left_out)}\n\n"
        f"Not in the profile: {_words(coverage.lacking)}"
    )


def downloads(job: Job) -> None:
    """A download button per published PDF, DOCX and Markdown file found on this machine."""
    files = [Path(f) for f in job.files if Path(f).suffix in MIME]
    if not files:
        return
    order = {suffix: i for i, suffix in enumerate(MIME)}
    files.sort(key=lambda p: (order[p.suffix], p.name))
    found, missing = [], []
    for path in files:
        try:
            found.append((path, path.read_bytes()))
        except OSError:
            missing.append(str(path))
    for start in range(0, len(found), _PER_ROW):
        row = found[start : start + _PER_ROW]
        for col, (path, body) in zip(st.columns(_PER_ROW), row, strict=False):
            col.download_button(
                f"{path.stem.replace('_', ' ')} ({_KINDS[path.suffix]})",
                body,
                file_name=path.name,
                mime=MIME[path.suffix],
                key=f"dl_{path.name}",
                icon=":material/download:",
                on_click="ignore",
                width="stretch",
            )
    if missing:
        st.caption(
            "Not found on this machine (written by a worker elsewhere?): "
            + ", ".join(f"`{m}`" for m in missing)
        )
