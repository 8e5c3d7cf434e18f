"""HTML to readable text: paragraphs and list items kept, scripts, styles and markup dropped."""

from __future__ import annotations

import html as _html
import re

from bs4 import BeautifulSoup, Comment

__all__ = ["html_to_text", "looks_like_html"]

# Elements whose content is never text a reader should see.
_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "head")
# Elements that start a new block of text.
_BLOCKS = (
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "br",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "dl",
    "dt",
    "dd",
)
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?\s*>")


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains real or entity-escaped tags (Greenhouse escapes its HTML)."""
    return bool(_TAG.search(text) or _TAG.search(_html.unescape(text)))


def html_to_text(markup: str) -> str:
    """Readable text from HTML: one paragraph per block, ``- `` before each list item.

    Greenhouse sends entity-escaped HTML (``&lt;p&gt;``), so escaped tags are unescaped first.
    """
    if not _TAG.search(markup) and _TAG.search(_html.unescape(markup)):
        markup = _html.unescape(markup)
    soup = BeautifulSoup(markup, "html.parser")
    for element in soup(_DROP):
        element.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for block in soup.find_all(_BLOCKS):
        if block.find_parent("li") is None:
            block.insert_before("\n\n")
            block.insert_after("\n\n")
        elif block.name == "br":
            block.insert_before(" ")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
        item.insert_after("\n")
    return _tidy(soup.get_text())


def _tidy(text: str) -> str:
    """Collapse runs of spaces inside lines and of blank lines between them."""
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    lines = [line for line in lines if line != "-"]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    # List items stay on consecutive lines.
    text = "\n".join(out).strip()
    return re.sub(r"(?m)^(- .*)\n\n(?=- )", r"\1\n", text)
