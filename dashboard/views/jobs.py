"""Jobs: filter the stored jobs, read one job's layer outputs, and mark what happened to it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from applyflow.errors import InvalidTransition
from applyflow.models import USER_STATUSES, Job, Status
from applyflow.money import format_usd
from applyflow.settings import Settings
from dashboard import data, ui
from dashboard import job_detail as detail

_FLASH = "_jobs_flash"
JOBS_SHOWN = 500


def _pick(output: dict[str, Any], *names: str) -> Any:
    """The first present, non-empty key of ``names`` in a layer output (schemas may grow)."""
    for name in names:
        value = output.get(name)
        if value not in (None, "", [], {}):
            return value
    return None


def _output(job: Job, layer: str) -> dict[str, Any]:
    stored = job.outputs.get(layer)
    return dict(stored.output) if stored else {}


def _bullets(items: Any) -> str:
    if isinstance(items, str):
        return items
    return "\n".join(f"- {item}" for item in items or [])


def _filters() -> dict[str, Any]:
    cols = st.columns([2, 1, 2, 2])
    statuses = cols[0].multiselect("Status", [s.value for s in Status], key="f_status")
    min_fit = cols[1].number_input("Min fit", 0, 100, 0, step=5, key="f_fit")
    company = cols[2].text_input("Company", key="f_company").strip()
    text = cols[3].text_input("Search", placeholder="title, company, description", key="f_text")
    return {
        "statuses": tuple(statuses),
        "min_fit": int(min_fit) or None,
        "company": company or None,
        "text": text.strip() or None,
    }


def _mark_buttons(src: data.Source, job: Job) -> None:
    # A job whose documents need review can be approved once read (it becomes ready).
    statuses = (
        [Status.READY, *USER_STATUSES] if job.status == Status.NEEDS_REVIEW else USER_STATUSES
    )
    cols = st.columns(len(statuses))
    for col, status in zip(cols, statuses, strict=True):
        clicked = col.button(
            "Approve (mark ready)" if status == Status.READY else f"Mark {status.value}",
            key=f"mark_{status.value}",
            disabled=job.status == status,
            width="stretch",
        )
        if not clicked:
            continue
        try:
            updated = data.mark_job(src, job.id, status)
        except InvalidTransition as exc:
            st.error(str(exc))
            return
        stamp = f" (applied {updated.applied_at:%Y-%m-%d %H:%M} UTC)" if updated.applied_at else ""
        # Shown by the rerun as a toast, beside the buttons wherever the page is scrolled.
        st.session_state[_FLASH] = f"Marked {ui.literal(job.title)} {status.value}{stamp}."
        st.rerun()


def _fit_tab(job: Job, score: dict[str, Any]) -> None:
    fit = job.fit if job.fit is not None else _pick(score, "fit")
    if fit is None and not score:
        ui.empty("Not scored yet.")
        return
    category = _pick(score, "category")
    st.metric("Fit", f"{fit}/100" if fit is not None else "—", help=category)
    if fit is not None:
        st.badge(str(category or f"fit {fit}"), color=detail.fit_colour(int(fit)))
    rationale = _pick(score, "rationale")
    st.markdown("**Rationale**\n\n" + (str(rationale) if rationale else "_none given_"))
    gaps = _pick(score, "gaps")
    st.markdown("**Gaps**\n\n" + (_bullets(gaps) if gaps else "_none found_"))
    matched = _pick(score, "matched_skills")
    if matched:
        st.markdown("**Matched skills**\n\n" + _bullets(matched))


def _document(text: Any, missing: str, skills: Any = None) -> None:
    """A generated Markdown document, rendered, with its raw text to copy."""
    if not text:
        ui.empty(missing)
        return
    if skills:
        st.caption("Highlighted skills: " + ", ".join(str(s) for s in skills))
    with st.container(border=True):
        st.markdown(str(text))
    with st.expander("Markdown source"):
        st.code(str(text), language="markdown")


def _fields(output: dict[str, Any] | None, missing: str) -> None:
    """A layer's output as a field/value table, or ``missing`` when it has not run."""
    if output:
        st.table(detail.fields_table(output).set_index("field"))
    else:
        ui.empty(missing)


def _outputs(job: Job) -> None:
    extract, research = _output(job, "extract"), _output(job, "research")
    score, generate = _output(job, "score"), _output(job, "generate")
    publish = _output(job, "publish")
    tabs = st.tabs(
        ["Extracted", "Fit", "CV", "Cover letter", "Checks", "Research", "Posting"],
        key="job_tab",
        on_change="rerun",  # the open tab is kept across reruns (marking a job, a refresh)
    )
    with tabs[0]:
        _fields(extract, "Not extracted yet.")
    with tabs[1]:
        _fit_tab(job, score)
    skills = _pick(generate, "highlighted_skills")
    with tabs[2]:
        _document(_pick(generate, "cv_markdown"), "No CV generated yet.", skills)
    with tabs[3]:
        _document(_pick(generate, "cover_letter_markdown"), "No cover letter generated yet.")
    with tabs[4]:
        detail.verification_and_coverage(job)
    with tabs[5]:
        _fields(research, "No company research yet.")
    with tabs[6]:
        files = _pick(publish, "files")
        if files:
            st.caption("Published: " + " · ".join(f"`{f}`" for f in files))
        st.text(job.description)


def _detail(src: data.Source, job_id: str) -> None:
    job = data.load_job(src, job_id)
    if job is None:
        ui.empty("That job is no longer in the store.")
        return
    ui.heading(f"{job.title} @ {job.company}")
    facts = [f"status **{job.status.value}**"]
    if job.fit is not None:
        facts.append(f"fit **{job.fit}**")
    if job.location:
        facts.append(ui.literal(job.location))
    if job.applied_at:
        facts.append(f"applied {job.applied_at:%Y-%m-%d %H:%M} UTC")
    facts.append(f"cost {format_usd(job.cost_usd)}")
    if job.url:
        facts.append(f"[posting]({job.url})")
    st.markdown(" · ".join(facts))
    if job.error:
        st.warning(f"Last error: {job.error}")
    _mark_buttons(src, job)
    detail.downloads(job)
    _outputs(job)


def _body(settings: Settings, src: data.Source) -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        st.toast(flash, icon=":material/check_circle:")
    filters = _filters()
    jobs = data.load_jobs(src, **filters, limit=JOBS_SHOWN)
    if jobs.empty:
        any_filter = any(v for v in filters.values())
        ui.empty(
            "No job matches these filters."
            if any_filter
            else "No jobs yet. Ingest postings with `applyflow ingest samples/postings.json`."
        )
        return
    shown = f"{len(jobs)} job(s)"
    if len(jobs) >= JOBS_SHOWN:
        shown += f" — the {JOBS_SHOWN} most recently updated; narrow the filters to see others"
    st.caption(shown)
    # Text, so a job never applied to shows a blank cell rather than "None".
    applied = [f"{v:%Y-%m-%d %H:%M}" if pd.notna(v) else "" for v in jobs["applied_at"]]
    st.dataframe(
        jobs.assign(applied_at=applied),
        hide_index=True,
        column_config={
            "fit": st.column_config.ProgressColumn(
                "fit", min_value=0, max_value=100, format="%d", color="auto"
            ),
            "cost_usd": st.column_config.NumberColumn("cost", format="$%.4f"),
            "applied_at": st.column_config.TextColumn("applied"),
            "updated_at": st.column_config.DatetimeColumn("updated", format="YYYY-MM-DD HH:mm"),
        },
    )
    ids = list(jobs["id"])
    labels = {r.id: f"{r.title} @ {r.company} ({r.id})" for r in jobs.itertuples()}
    wanted = st.query_params.get("job")
    if wanted and wanted not in ids:
        # A link to a job outside the (cached, filtered) list still opens that job.
        linked = data.load_job(src, wanted)
        if linked is not None:
            ids.insert(0, wanted)
            labels[wanted] = f"{linked.title} @ {linked.company} ({linked.id})"
    job_id = ui.pick("Job", ids, labels, wanted, key="job_pick")
    _detail(src, job_id)


st.title("Jobs")
ui.guarded(_body)
