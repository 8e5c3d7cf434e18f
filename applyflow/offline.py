"""The ``offline`` model: a deterministic, rule-based stand-in for a chat model.

What it is:
- a LangChain ``BaseChatModel`` that needs no key and no network, and gives the same reply to
  the same messages every time;
- it is told which pipeline layer it serves through LangChain's run metadata (key
  ``applyflow_layer``, which the guarded call puts in every call's config: providers never see
  it), and reads the layer's input from the first user message, which is that input as JSON;
  then it fills that layer's output schema by rules: skill vocabulary matching
  (``applyflow.textrules``), section parsing of the posting, a coverage-based fit score, and
  templated CV and cover letter text that quote the candidate profile verbatim;
- it reports ``usage_metadata`` (approximate token counts, LangChain's
  ``count_tokens_approximately``) and ``response_metadata["model_name"] = "offline"``, so usage,
  budgets and spend accounting run exactly as with a paid provider (at $0 unless priced).

What it is not:
- not a language model: it does not read, reason or write prose beyond its templates, so its
  letters are plain and its scores are simple skill coverage;
- not an instruction follower: text in a posting ("ignore previous instructions...") is only
  data to match words against, so prompt injection cannot change what it does;
- not creative: it never adds a fact that is not in the profile or the posting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult

from applyflow.offline_documents import cover_letter, cv
from applyflow.profile_import import structure, text_lines
from applyflow.textrules import (
    LANGUAGES,
    alternatives,
    bullets_under,
    is_injection,
    keywords,
    parse_profile,
    posting_skills,
    sections,
    sentences,
    years_required,
)

__all__ = ["LAYER_KEY", "OfflineChatModel", "fill_layer", "layer_input"]

LAYER_KEY = "applyflow_layer"  # run metadata: the layer a call serves
_CHARS_PER_TOKEN = 4  # count_tokens_approximately's ratio; used to cut replies at max_tokens

_REQUIREMENTS = re.compile(
    r"require|qualif|you have|you bring|looking for|must|about you|who you are|skills|"
    r"nice to have|bonus|experience",
    re.I,
)
_RESPONSIBILITIES = re.compile(
    r"responsib|what you.?ll do|you will|the role|day to day|your impact", re.I
)
_ABOUT = re.compile(r"about|who we are|mission|the company|our story", re.I)
_SENIORITY = [
    ("intern", r"\bintern(ship)?\b"),
    ("executive", r"\b(vp|vice president|director|head of|chief|cto|ceo)\b"),
    ("principal", r"\b(principal|staff|distinguished)\b"),
    ("lead", r"\b(lead|manager|team lead)\b"),
    ("senior", r"\b(senior|sr\.?)\b"),
    ("junior", r"\b(junior|jr\.?|graduate|entry.level)\b"),
    ("mid", r"\b(mid-level|mid|intermediate|ii)\b(?!-market)"),
]
_SIGNALS = [
    (r"\b(series [a-e]|seed round|seed-stage|raised \$?[\d.,]+\s?[mb]\w*)", "funding: {0}"),
    (r"\b(\d[\d,]*\+?\s+(?:people|employees|engineers|colleagues))\b", "size: {0}"),
    (r"\b(remote[- ]first|fully remote|distributed team)\b", "work style: {0}"),
    (r"\b(equity|stock options|esop)\b", "benefit: {0}"),
    (
        r"\b(4-day week|four-day week|parental leave|learning budget|flexible hours)\b",
        "benefit: {0}",
    ),
    (r"\b(visa sponsorship|relocation support|relocation package)\b", "mobility: {0}"),
    (
        r"((?:[$€£]|usd|eur|gbp)\s?\d[\d,.]*k?\s?(?:-|–|to)\s?(?:[$€£])?\s?\d[\d,.]*k?)",
        "pay range: {0}",
    ),
    (r"\b(profitable|b corp|non-?profit|open[- ]source)\b", "company: {0}"),
]
_INDUSTRIES = {
    "fintech": r"\b(fintech|payments?|banking|lending)\b",
    "healthcare": r"\b(health|clinic|patients?|hospital|medical)\b",
    "logistics": r"\b(logistics|shipping|freight|delivery|supply chain)\b",
    "e-commerce": r"\b(e-?commerce|retail|marketplace|shop)\b",
    "climate": r"\b(climate|renewable|energy|carbon|solar)\b",
    "education": r"\b(education|edtech|learning platform|students?)\b",
    "security": r"\b(cybersecurity|security company|threat)\b",
    "media": r"\b(media|publishing|newsroom|streaming)\b",
    "developer tools": r"\b(developer tools|devtools|api platform|open[- ]source)\b",
}


# A line that only says where or how the work happens ("On-site.", "Hybrid in Lisbon.").
_WORK_MODE = re.compile(r"^(?:on-?site|remote|hybrid|in-office)\b[^.]{0,40}\.?$", re.IGNORECASE)


def _asks(lines: list[str]) -> list[str]:
    """Posting lines that ask something of the candidate: not text addressed to AI tools, not
    a bare statement of the work mode."""
    return [line for line in lines if not is_injection(line) and not _WORK_MODE.match(line)]


def _extract(data: dict[str, Any]) -> dict[str, Any]:
    posting = data.get("posting") or {}
    text = str(posting.get("description") or "")
    title, location = str(posting.get("title") or ""), str(posting.get("location") or "")
    where = f"{location}\n{text}".casefold()
    if "hybrid" in where:
        remote = "hybrid"
    elif re.search(r"\bremote\b", where):
        remote = "remote"
    elif re.search(r"\bon-?site\b|\bin[- ]office\b|\bin person\b", where):
        remote = "onsite"
    else:
        remote = "unspecified"
    seniority = next(
        (level for level, rx in _SENIORITY if re.search(rx, title, re.I)), "unspecified"
    )
    skills = posting_skills(f"{title}\n{text}")
    requirements = _asks(bullets_under(text, _REQUIREMENTS))
    responsibilities = _asks(bullets_under(text, _RESPONSIBILITIES))
    if not requirements:
        requirements = [
            s[:300]
            for s in sentences(text)
            if re.search(r"experience|knowledge|familiar|proficien", s, re.I)
        ][:8]
    if not responsibilities:
        responsibilities = [
            s[:300] for s in sentences(text) if re.match(r"you(?:'ll| will)\b", s, re.I)
        ][:8]
    return {
        "title": title,
        "company": str(posting.get("company") or ""),
        "location": location or None,
        "remote_policy": remote,
        "seniority": seniority,
        "skills": skills,
        "requirements": requirements,
        "responsibilities": responsibilities,
        "keywords": keywords(text, [*skills, str(posting.get("company") or ""), location]),
        "years_experience": years_required(text),
    }


def _research(data: dict[str, Any]) -> dict[str, Any]:
    posting = data.get("posting") or {}
    company = str(posting.get("company") or "")
    text = str(posting.get("description") or "")
    page = str(data.get("company_page") or "")
    about = [" ".join(lines) for head, lines in sections(text) if head and _ABOUT.search(head)]
    prose = (
        sentences(about[0])
        if about
        else [s for s in sentences(text) if company and company.casefold() in s.casefold()]
    )
    summary = (
        " ".join(prose[:2])
        or f"{company} posted this role; the posting says little about the company."
    )
    corpus = f"{text}\n{page}"
    signals: list[str] = []
    for pattern, label in _SIGNALS:
        for match in re.finditer(pattern, corpus, re.I):
            signal = label.format(match.group(1).strip())
            if signal.casefold() not in (s.casefold() for s in signals):
                signals.append(signal)
    industry = next((name for name, rx in _INDUSTRIES.items() if re.search(rx, corpus, re.I)), None)
    note = data.get("company_page_note")  # what happened to the company page, fetched or not
    sources = ["posting"] + ([str(note)] if note else [])
    return {
        "company": company,
        "summary": summary[:1200],
        "industry": industry,
        "signals": signals[:12],
        "sources": sources,
    }


def _either_met(extract: dict[str, Any], matched: list[str]) -> dict[str, str]:
    """Skills the posting accepts instead of one the profile has ("Kafka or RabbitMQ"):
    skill -> the matched alternative."""
    asks = [*extract.get("requirements", []), *extract.get("responsibilities", [])]
    lines = [str(x) for x in asks]
    met: dict[str, str] = {}
    for line in lines:
        for group in alternatives(line):
            have = next((s for s in group if s in matched), None)
            for skill in group:
                if have and skill not in matched:
                    met.setdefault(skill, have)
    return met


def _score(data: dict[str, Any]) -> dict[str, Any]:
    profile = parse_profile(str(data.get("profile") or ""))
    extract = data.get("extract") or {}
    wanted = [str(s) for s in extract.get("skills") or []]
    matched = [s for s in wanted if profile.mentions(s)]
    either = _either_met(extract, matched)
    gaps = [s for s in wanted if s not in matched and s not in either]
    # A spoken language the profile has does not add to the fit (most postings ask for
    # English); one it lacks is a gap like any other.
    counted_hits = [s for s in matched if s not in LANGUAGES]
    spoken = [s for s in matched if s in LANGUAGES]
    if not counted_hits and not [g for g in gaps if g not in LANGUAGES]:
        counted_hits = matched  # the posting asks for languages and nothing else
        spoken = []
    total = len(counted_hits) + len(gaps)
    coverage = len(counted_hits) / total if total else 0.5
    need = extract.get("years_experience")
    if isinstance(need, int) and need > 0:
        experience = min(1.0, (profile.years or 0) / need)
    else:
        experience = 1.0
    fit = max(0, min(100, round(100 * (0.75 * coverage + 0.25 * experience))))
    years = f"{profile.years} years" if profile.years is not None else "unstated years"
    asked = f"{need}+ years asked" if isinstance(need, int) else "no years stated"
    rationale = (
        f"The profile covers {len(counted_hits)} of the {total} skills the posting asks for"
        f" ({round(coverage * 100)}% coverage) and shows {years} of experience ({asked})."
        " Fit = 75% skill coverage + 25% experience match."
    )
    if spoken:
        rationale += (
            f" It also asks for {', '.join(spoken)}, which the profile has"
            " (languages count only when missing)."
        )
    if either:
        rationale += (
            " Met by an alternative the posting accepts: "
            + ", ".join(f"{skill} ({have} instead)" for skill, have in either.items())
            + "."
        )
    if gaps:
        rationale += f" Not in the profile: {', '.join(gaps[:6])}."
    # No category: the score schema derives it from the fit.
    return {
        "fit": fit,
        "matched_skills": matched,
        "gaps": gaps,
        "rationale": rationale,
    }


def _generate(data: dict[str, Any]) -> dict[str, Any]:
    profile = parse_profile(str(data.get("profile") or ""))
    posting = data.get("posting") or {}
    wanted = [str(s) for s in (data.get("extract") or {}).get("skills") or []]
    matched = [s for s in wanted if profile.mentions(s)]
    title, company = str(posting.get("title") or ""), str(posting.get("company") or "")
    asked_languages = [s for s in wanted if s in LANGUAGES]
    return {
        "cv_markdown": cv(profile, title, company, matched),
        "cover_letter_markdown": cover_letter(profile, title, company, matched, asked_languages),
        "highlighted_skills": matched,
    }


def _profile_import(data: dict[str, Any]) -> dict[str, Any]:
    """`profile import --model offline`: the import rules themselves."""
    return {"profile_markdown": structure(text_lines(str(data.get("cv_text") or ""))).markdown}


_RULES = {
    "extract": _extract,
    "research": _research,
    "score": _score,
    "generate": _generate,
    "profile_import": _profile_import,
}


def fill_layer(layer: str, data: dict[str, Any]) -> dict[str, Any]:
    """The offline answer for ``layer`` given its input data (deterministic)."""
    try:
        rule = _RULES[layer]
    except KeyError:
        raise ValueError(f"the offline model has no rules for layer {layer!r}") from None
    return rule(data)


def layer_input(messages: list[BaseMessage]) -> dict[str, Any]:
    """The layer's input: the first user message is that input as a JSON object ({} if not)."""
    first = next((m for m in messages if isinstance(m, HumanMessage)), None)
    if first is None:
        return {}
    try:
        data = json.loads(first.text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _layer(metadata: Mapping[str, Any]) -> str | None:
    layer = metadata.get(LAYER_KEY)
    return layer if isinstance(layer, str) else None


class OfflineChatModel(BaseChatModel):
    """Deterministic rule-based chat model for applyflow's layers (see the module docstring)."""

    max_tokens: int = 4096
    model_name: str = "offline"

    @property
    def _llm_type(self) -> str:
        return "applyflow-offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_tokens": self.max_tokens}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        layer = _layer(run_manager.metadata if run_manager else {})
        if layer in _RULES:
            reply = json.dumps(fill_layer(layer, layer_input(messages)), ensure_ascii=False)
        else:
            reply = json.dumps({"error": f"offline model: no known {LAYER_KEY} in the metadata"})
        finish = "stop"
        # Like a real provider, stop at max_tokens (the layer then sees invalid JSON).
        if count_tokens_approximately([AIMessage(reply)]) > self.max_tokens:
            overhead = count_tokens_approximately([AIMessage("")])
            keep = max(0, self.max_tokens - overhead) * _CHARS_PER_TOKEN
            reply, finish = reply[:keep], "length"
        input_tokens = count_tokens_approximately(messages)
        output_tokens = count_tokens_approximately([AIMessage(reply)])
        message = AIMessage(
            content=reply,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata={"model_name": self.model_name, "finish_reason": finish},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
