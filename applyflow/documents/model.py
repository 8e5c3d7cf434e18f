"""The structured document both renderers draw: a CV or a cover letter as data.

Markdown is interpreted once, in Python (``documents.markdown``); from here on user text is
data: the PDF template places these strings as text and never evaluates them as markup.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

__all__ = [
    "Block",
    "CvDocument",
    "Entry",
    "LetterDocument",
    "Section",
    "Span",
    "clean_text",
    "plain",
]

# What neither DOCX (XML 1.0) nor a PDF can hold: control characters and non-characters.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without control characters, and with lone surrogates replaced."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _UNPRINTABLE.sub("", text)


class Span(BaseModel):
    """A run of inline text; ``href`` only for http(s) and mailto links."""

    text: str
    strong: bool = False
    emph: bool = False
    href: str | None = None

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


Inline = list[Span]


def plain(spans: Inline) -> str:
    """The text of ``spans`` without emphasis or links."""
    return "".join(s.text for s in spans)


class Entry(BaseModel):
    """One role (or degree, project...): ``Title — Org (dates)`` with its paragraphs and bullets."""

    title: str
    org: str | None = None
    dates: str | None = None
    location: str | None = None
    paragraphs: list[Inline] = Field(default_factory=list)
    bullets: list[Inline] = Field(default_factory=list)


class Block(BaseModel):
    """Exactly one of a paragraph, a bullet list or an entry."""

    paragraph: Inline | None = None
    bullets: list[Inline] | None = None
    entry: Entry | None = None


class Section(BaseModel):
    heading: str  # "" for text above the first heading
    blocks: list[Block] = Field(default_factory=list)


class CvDocument(BaseModel):
    """A CV: the name, a contact line, then sections (Summary, Skills, Experience...)."""

    name: str
    title: str  # document metadata, e.g. "Alex Morgan — CV for Data Engineer at Verdant Grid"
    contact: list[str] = Field(default_factory=list)
    headline: Inline = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    lang: str = "en"

    @field_validator("name", "title")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


class LetterDocument(BaseModel):
    """A cover letter: sender (from the profile), date, recipient, salutation, body, sign-off."""

    name: str
    title: str
    contact: list[str] = Field(default_factory=list)
    date: str | None = None
    recipient: list[str] = Field(default_factory=list)
    salutation: Inline = Field(default_factory=list)
    body: list[Block] = Field(default_factory=list)
    closing: str | None = None
    signature: str | None = None
    lang: str = "en"

    @field_validator("name", "title")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)
