"""Generated Markdown -> ``CvDocument`` / ``LetterDocument`` (CommonMark, by markdown-it-py).

Raw HTML stays text (``html=False``); only http(s) and mailto links keep their address;
images become their alt text; nested lists are flattened to one level (ATS parsers read one);
tables become ``a · b · c`` lines; code becomes plain text. Nothing the Markdown says is lost.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it import MarkdownIt

from applyflow.documents.model import (
    Block,
    CvDocument,
    Entry,
    Inline,
    LetterDocument,
    Section,
    Span,
    clean_text,
    plain,
)

__all__ = ["parse_cv", "parse_letter", "parse_role", "split_contact"]

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_LINK = re.compile(r"(?i)^(https?:|mailto:)")


def _inline(token: Any) -> Inline:
    """The spans of one inline token, neighbours with the same marks merged."""
    spans: list[Span] = []
    strong = emph = 0
    href: str | None = None
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline"):
            text = child.content
        elif kind == "softbreak":
            text = " "
        elif kind == "hardbreak":
            text = "\n"
        elif kind == "image":
            text = child.content  # alt text: a CV sent to an ATS holds no images
        else:
            strong += {"strong_open": 1, "strong_close": -1}.get(kind, 0)
            emph += {"em_open": 1, "em_close": -1}.get(kind, 0)
            if kind == "link_open":
                url = str(child.attrs.get("href", ""))
                href = url if _LINK.match(url) else None
            elif kind == "link_close":
                href = None
            continue
        span = Span(text=text, strong=strong > 0, emph=emph > 0, href=href)
        last = spans[-1] if spans else None
        if last and (last.strong, last.emph, last.href) == (span.strong, span.emph, span.href):
            last.text += span.text
        elif span.text:
            spans.append(span)
    if spans:
        spans[0].text = spans[0].text.lstrip()
        spans[-1].text = spans[-1].text.rstrip()
    return [s for s in spans if s.text]


def _blocks(md: str) -> list[tuple[str, Inline, int]]:
    """The Markdown as (kind, spans, level): heading (level 1-6), paragraph, bullet."""
    out: list[tuple[str, Inline, int]] = []
    tokens = _MD.parse(clean_text(md))
    depth, cells, in_cell = 0, [], False
    for i, tok in enumerate(tokens):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif tok.type == "tr_open":
            cells = []
        elif tok.type in ("th_open", "td_open"):
            in_cell = True
        elif tok.type in ("th_close", "td_close"):
            in_cell = False
        elif tok.type == "tr_close":
            row = " · ".join(c for c in cells if c)
            if row:
                out.append(("paragraph", [Span(text=row)], 0))
        elif tok.type == "inline":
            spans = _inline(tok)
            prev = tokens[i - 1]
            if in_cell:
                cells.append(plain(spans).strip())
            elif not spans:
                continue
            elif prev.type == "heading_open":
                out.append(("heading", spans, int(prev.tag[1])))
            elif depth > 0:
                out.append(("bullet", spans, depth))
            else:
                out.append(("paragraph", spans, 0))
        elif tok.type in ("fence", "code_block"):
            out.extend(
                ("paragraph", [Span(text=line)], 0) for line in tok.content.splitlines() if line
            )
    return out


_ROLE = re.compile(
    r"^(?P<title>.+?)\s+(?:—|–|--|-|\||@|,\s*at|at)\s+(?P<org>.+?)"
    r"(?:\s*[(\[](?P<dates>[^()\[\]]*\d[^()\[\]]*)[)\]])?\s*$"
)
_DATES = re.compile(
    r"[\s,|·(\[]*[(\[]?(?P<dates>(?:\w+\.? )?(?:19|20)\d\d(?:\s*(?:–|—|-|to)\s*"
    r"(?:(?:\w+\.? )?(?:19|20)\d\d|present|now|current|today))?)[)\]]?\s*$",
    re.IGNORECASE,
)


def parse_role(header: str) -> Entry:
    """``Title — Org (2019–2021)``, ``Title @ Org [2019 - now]``, ``Title | Org | Jan 2019 -
    Mar 2021``, ``Title, Org, 2018–2021`` -> title, org, dates; anything else stays the title."""
    header = header.strip()
    m = _ROLE.match(header)
    if m:
        title, org, dates = m["title"].strip(), m["org"].strip(), m["dates"]
        d = None if dates else _DATES.search(org)
        if d and d.start() > 0:  # 'Org | Jan 2019 - Mar 2021': dates without brackets
            org, dates = org[: d.start()].strip(" ,|·"), d["dates"]
        return Entry(title=title, org=org or None, dates=dates.strip() if dates else None)
    d = _DATES.search(header)
    if not d or d.start() == 0:
        return Entry(title=header)
    title, sep, org = header[: d.start()].strip(" ,|·").partition(", ")
    return Entry(title=title.strip(), org=org.strip() if sep else None, dates=d["dates"].strip())


def split_contact(line: str) -> list[str]:
    """A contact line's items: separated by ``·``, ``|`` or ``•``."""
    return [p.strip() for p in re.split(r"\s+[·|•]\s+", line) if p.strip()]


def parse_cv(md: str, *, title: str, name: str | None = None) -> CvDocument:
    """The CV's structure: first ``#`` is the name, the paragraph under it the contact line,
    ``##`` sections, ``###`` entries (roles), bullets and paragraphs in their place."""
    doc = CvDocument(name=name or "", title=title)
    section: Section | None = None
    entry: Entry | None = None
    titled = False  # the "# Name" line was seen (``name``, when given, wins over its text)
    for kind, spans, level in _blocks(md):
        text = plain(spans)
        if kind == "heading" and level == 1 and not titled and section is None:
            doc.name, titled = doc.name or text, True
        elif kind == "heading" and level <= 2:
            section, entry = Section(heading=text), None
            doc.sections.append(section)
        elif kind == "heading":
            if section is None:
                section = Section(heading="")
                doc.sections.append(section)
            entry = parse_role(text)
            section.blocks.append(Block(entry=entry))
        elif section is None and kind == "paragraph" and not doc.contact and titled:
            doc.contact = split_contact(text)
        elif section is None and kind == "paragraph" and not doc.headline:
            doc.headline = spans
        else:
            if section is None:
                section = Section(heading="")
                doc.sections.append(section)
            if entry is not None:
                (entry.bullets if kind == "bullet" else entry.paragraphs).append(spans)
            else:
                _add(section.blocks, kind, spans)
    doc.name = doc.name or "Candidate"
    return doc


def _add(blocks: list[Block], kind: str, spans: Inline) -> None:
    if kind == "bullet":
        if blocks and blocks[-1].bullets is not None:
            blocks[-1].bullets.append(spans)
        else:
            blocks.append(Block(bullets=[spans]))
    else:
        blocks.append(Block(paragraph=spans))


_SALUTATION = re.compile(r"^(dear|hello|hi|to whom|good (morning|afternoon))\b", re.IGNORECASE)
_CLOSING = re.compile(
    r"^(kind(est)? regards|best( regards| wishes)?|regards|sincerely|yours( sincerely|"
    r" faithfully| truly)?|thank you|thanks|with (best|warm) regards|warm regards|"
    r"respectfully|cheers)[,.!]?$",
    re.IGNORECASE,
)


def parse_letter(
    md: str,
    *,
    name: str,
    contact: list[str],
    title: str,
    date: str | None = None,
    recipient: list[str] | None = None,
) -> LetterDocument:
    """The letter's structure. The sender's name and contact come from the profile, not the
    model: a sender block the model repeats above the salutation is dropped; other lines there
    become the recipient (else ``recipient``)."""
    items = [(k, s) for k, s, _ in _blocks(md) if k != "heading" or plain(s).strip() != name]
    doc = LetterDocument(name=name, contact=contact, title=title, date=date)
    greet = next(
        (
            i
            for i, (k, s) in enumerate(items[:6])
            if k == "paragraph" and _SALUTATION.match(plain(s))
        ),
        None,
    )
    if greet is not None:
        head, doc.salutation = items[:greet], items[greet][1]
        items = items[greet + 1 :]
        mine = [w.casefold() for w in (name, *contact) if w]
        doc.recipient = [
            plain(s) for _, s in head if not any(w in plain(s).casefold() for w in mine)
        ]
    if not doc.recipient:
        doc.recipient = list(recipient or [])
    _sign_off(doc, items)
    for kind, spans in items:
        _add(doc.body, kind, spans)
    return doc


def _sign_off(doc: LetterDocument, items: list[tuple[str, Inline]]) -> None:
    """Take "Kind regards,\\nName" (one paragraph, or two) off the end of ``items``."""
    if not items or items[-1][0] != "paragraph":
        return
    # "Kind regards, Alex Morgan" after markdown-it joined the soft break: split at the comma.
    closing, comma, signature = plain(items[-1][1]).strip().partition(",")
    signature = signature.strip()
    looks_signed = len(signature.split()) <= 6 and not signature.endswith((".", "!", "?"))
    if _CLOSING.match(closing + comma) and looks_signed:
        items.pop()
        doc.closing, doc.signature = closing + comma, signature or doc.name
    elif len(items) > 1 and items[-2][0] == "paragraph" and _CLOSING.match(plain(items[-2][1])):
        doc.signature = plain(items.pop()[1]).strip()
        doc.closing = plain(items.pop()[1]).strip()
