"""PDF with Typst (the ``typst`` wheel bundles the compiler and its fonts: offline, no binary).

The document goes to the template as JSON in ``sys.inputs`` and is placed as text, so nothing a
model or a profile writes is ever parsed as Typst markup. Fonts are the bundled Libertinus
Serif (system fonts are ignored: the same PDF on every machine) plus any ``font_dirs``.

A ``typst.Compiler`` may not be used by two threads at once, and publish runs in Prefect's
thread pool: each compiler is shared behind a lock (a CV compiles in ~10 ms, so waiting is
cheap, and memory stays at one compiler per template instead of one per thread).
"""

from __future__ import annotations

import json
import threading
import unicodedata
from datetime import datetime
from functools import lru_cache
from typing import Literal

import typst

from applyflow.documents import TEMPLATES
from applyflow.documents.model import CvDocument, LetterDocument
from applyflow.errors import DocumentError

__all__ = ["Paper", "render_pdf", "uncovered"]

Paper = Literal["a4", "letter"]
_TYPST_PAPER = {"a4": "a4", "letter": "us-letter"}


# What the bundled Libertinus Serif draws: Latin (Vietnamese too), IPA, Greek, Cyrillic, Hebrew,
# and these signs. Anything else (CJK, Arabic, Devanagari, emoji) needs a font folder.
_DRAWN = ("LATIN", "GREEK", "CYRILLIC", "HEBREW", "DIGIT", "COMBINING", "MODIFIER LETTER")
_DRAWN_SIGNS = set("€£$¥¢%&@#*+-=<>^~|\\/_()[]{}.,:;!?'\"‘’“”„‚«»‹›–—…•·°§¶©®™†‡′″‰×÷±")


def uncovered(text: str) -> set[str]:
    """Characters of ``text`` the bundled font cannot draw (by Unicode name: cheap)."""
    out = set()
    for ch in set(text):
        if ch.isspace() or ch.isascii() or ch in _DRAWN_SIGNS:
            continue
        if not unicodedata.name(ch, "").startswith(_DRAWN):
            out.add(ch)
    return out


class _Compiler:
    """One template's compiler, one compile at a time."""

    def __init__(self, template: str, font_dirs: tuple[str, ...]) -> None:
        self._compiler = typst.Compiler(
            str(TEMPLATES / f"{template}.typ"),
            root=str(TEMPLATES),
            font_paths=list(font_dirs),
            ignore_system_fonts=True,
        )
        self._lock = threading.Lock()

    def compile(self, data: str, timestamp: datetime | None) -> bytes:
        with self._lock:
            pdf = self._compiler.compile(
                format="pdf", sys_inputs={"data": data}, timestamp=timestamp
            )
        assert isinstance(pdf, bytes)
        return pdf


@lru_cache(maxsize=8)
def _compiler(template: str, font_dirs: tuple[str, ...]) -> _Compiler:
    return _Compiler(template, font_dirs)


def render_pdf(
    doc: CvDocument | LetterDocument,
    *,
    paper: Paper = "a4",
    font_dirs: tuple[str, ...] = (),
    timestamp: datetime | None = None,
) -> bytes:
    """The PDF of ``doc``; ``timestamp`` (e.g. when the text was generated) makes the bytes
    reproducible. A Typst error is a template bug: ``DocumentError`` without user text."""
    template = "cv" if isinstance(doc, CvDocument) else "letter"
    if timestamp is not None:
        timestamp = timestamp.replace(microsecond=0)  # Typst takes whole seconds
    data = doc.model_dump(mode="json", exclude_none=True) | {"paper": _TYPST_PAPER[paper]}
    try:
        return _compiler(template, font_dirs).compile(
            json.dumps(data, ensure_ascii=False), timestamp
        )
    except typst.TypstError as exc:
        raise DocumentError(f"the {template} PDF template failed: {exc.message}") from None
