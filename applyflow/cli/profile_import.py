"""`applyflow profile import FILE --out PROFILE.md`: a CV (.pdf, .docx, .md, .txt) as a profile
in applyflow's layout, by rules, or structured by a model through the guarded call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from applyflow.cli._app import JsonFlag, console, err_console, fail, handle_errors, print_json
from applyflow.cli._session import settings, store_session
from applyflow.cli.profile import profile_app
from applyflow.errors import ApplyflowError
from applyflow.profile_check import layout_problems
from applyflow.profile_import import (
    IMPORT_INSTRUCTIONS,
    ImportReply,
    as_text,
    read_cv,
    structure,
)
from applyflow.settings import Settings
from applyflow.textrules import parse_profile

IMPORT_MAX_TOKENS = 6000


def _with_model(cfg: Settings, model: str, text: str) -> tuple[str, float]:
    """The profile as ``model`` structures it (priced, capped and rate-limited like any call)
    and what the call cost; the reply must be the layout's JSON."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from applyflow.modelspec import OFFLINE, parse_model
    from applyflow.runtime import current_runtime
    from guards.call import CallContext, ModelGuard

    schema = json.dumps(ImportReply.model_json_schema(), separators=(",", ":"))
    messages = [
        SystemMessage(f"{IMPORT_INSTRUCTIONS.strip()}\nJSON schema: {schema}"),
        HumanMessage(json.dumps({"cv_text": text}, ensure_ascii=False)),
    ]
    local = parse_model(model).provider == OFFLINE
    with store_session(cfg) as store:
        guard = ModelGuard(
            cfg,
            store,
            model_factory=current_runtime().model_factory,
            prefect_slots=False if local else None,
        )
        result = guard.call(
            messages,
            model=model,
            max_tokens=IMPORT_MAX_TOKENS,
            ctx=CallContext(layer="profile_import"),
        )
    body = result.text.strip().strip("`").removeprefix("json").strip()
    try:
        reply = ImportReply.model_validate_json(body)
    except ValueError:
        raise ApplyflowError(
            f"the {result.model} reply was not a profile in the JSON asked for; nothing was "
            "written (run without --model for the rules' profile)"
        ) from None
    return reply.profile_markdown.strip() + "\n", result.usage.cost_usd


def _added(markdown: str, source: str) -> list[str]:
    """Claims of a model-made profile that the CV itself does not state."""
    from applyflow.claims import verify_documents

    verification = verify_documents(markdown, "", source)
    return [str(claim).removesuffix(" (cv)") for claim in verification.unsupported]


def _report(out: Path, markdown: str, found: dict[str, Any]) -> None:
    profile = parse_profile(markdown)
    bullets = sum(len(r.bullets) for r in profile.roles)
    sections = ", ".join(profile.sections) or "none"
    console.print(
        f"wrote [bold]{out}[/]: {profile.name}, {len(profile.roles)} role(s) with {bullets} "
        f"bullet(s); sections {sections}",
        highlight=False,
        soft_wrap=True,
    )
    if found["unplaced"]:
        console.print(
            f"[yellow]could not place {len(found['unplaced'])} line(s)[/] "
            "(kept under ## Notes, which documents never copy):",
            highlight=False,
            soft_wrap=True,
        )
        for line in found["unplaced"]:
            console.print(f"  - {line}", markup=False, highlight=False)
    if found["unknown_sections"]:
        console.print(f"sections kept as they are: {', '.join(found['unknown_sections'])}")
    if found["missing"]:
        console.print(f"[yellow]missing:[/] {'; '.join(found['missing'])}", highlight=False)
    if found["added_by_model"]:
        console.print(
            "[yellow]the model wrote things the CV does not state (check them):[/] "
            + "; ".join(found["added_by_model"]),
            highlight=False,
            soft_wrap=True,
        )


@profile_app.command("import")
@handle_errors
def import_profile(
    file: Annotated[Path, typer.Argument(help="The CV: .pdf, .docx, .md or .txt.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The profile to write (Markdown).")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="provider:model to structure it (a guarded, priced call); else rules."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Import a CV as a profile: name and contact line, Summary, Skills, Experience, Education,
    Languages. Says what it could not place."""
    if out.exists() and not force:
        raise fail(f"{out} exists; pass --force to replace it")
    lines = read_cv(file)
    imported = structure(lines)
    markdown, cost, added = imported.markdown, 0.0, []
    if model:
        source = as_text(lines)
        markdown, cost = _with_model(settings(), model, source)
        added = _added(markdown, source)
    try:
        out.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    found = {
        "out": str(out),
        "model": model,
        "cost_usd": round(cost, 6),
        "unplaced": imported.unplaced if not model else [],
        "unknown_sections": imported.unknown_sections if not model else [],
        "missing": layout_problems(markdown),
        "added_by_model": added,
    }
    if as_json:
        profile = parse_profile(markdown)
        found |= {"name": profile.name, "roles": [r.header for r in profile.roles],
                  "sections": list(profile.sections)}  # fmt: skip
        print_json(found)
    else:
        _report(out, markdown, found)
        if cost:
            err_console.print(f"model call: ${cost:.4f}", highlight=False)
