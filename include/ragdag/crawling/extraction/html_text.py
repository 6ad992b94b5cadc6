"""Render an HTML subtree as plain text: one paragraph per block, blank lines between them."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

# Elements that start a new paragraph in a browser's rendering.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "div",
        "dl", "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
# Soft hyphens mark where a word may break; a reader sees one word (and a search finds it).
_SOFT_HYPHENS = re.compile("\u00ad")
_PARAGRAPH_BREAK = "\n\n"


class _TextBuilder:
    """Collects text runs; a block boundary becomes a paragraph break, <br> a line break."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def text(self, value: str | None, preformatted: bool = False) -> None:
        if value:
            value = _SOFT_HYPHENS.sub("", value)
        if value and not preformatted:
            value = _SPACES.sub(" ", value.replace("\n", " "))
        if value:
            self._parts.append(value)

    def line_break(self) -> None:
        self._parts.append("\n")

    def paragraph_break(self) -> None:
        self._parts.append(_PARAGRAPH_BREAK)

    def result(self) -> str:
        paragraphs = "".join(self._parts).split(_PARAGRAPH_BREAK)
        cleaned = ("\n".join(line.strip() for line in p.split("\n")).strip() for p in paragraphs)
        return _PARAGRAPH_BREAK.join(p for p in cleaned if p)


def _walk(element: HtmlElement, out: _TextBuilder, preformatted: bool) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag and tag not in _SKIPPED_TAGS:
        is_block = tag in BLOCK_TAGS
        inner_pre = preformatted or tag in ("pre", "textarea")
        if is_block:
            out.paragraph_break()
        elif tag == "br":
            out.line_break()
        elif tag in _CELL_TAGS:
            out.text(" ")
        out.text(element.text, inner_pre)
        for child in element:
            _walk(child, out, inner_pre)
        if is_block:
            out.paragraph_break()
    # The tail belongs to the parent's flow, whatever this element was (comments included).
    out.text(element.tail, preformatted)


def element_text(element: HtmlElement) -> str:
    """Plain text of `element` (its own tail excluded) with paragraphs separated by blank lines."""
    out = _TextBuilder()
    saved_tail, element.tail = element.tail, None
    try:
        _walk(element, out, preformatted=False)
    finally:
        element.tail = saved_tail
    return out.result()
