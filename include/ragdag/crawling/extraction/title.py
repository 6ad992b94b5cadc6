"""Article title from the page's <title>, without site-name decoration (as Readability does it)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml.html import HtmlElement

_SEPARATORS = r"\|\-–—\\/>»"
_SEPARATOR = re.compile(rf"\s[{_SEPARATORS}]\s")
# "a / b / c" or "a » b" reads like a breadcrumb, where a short last part is still the real title.
_HIERARCHICAL_SEPARATOR = re.compile(r"\s[\\/>»]\s")
_LEADING_SEGMENT = re.compile(rf"^[^{_SEPARATORS}]*[{_SEPARATORS}]")
_WHITESPACE = re.compile(r"\s+")
_TOKEN_SPLIT = re.compile(r"\W+")
# Titles outside this range are more likely a site name or a SEO blurb than the headline.
_MIN_PLAIN_TITLE, _MAX_PLAIN_TITLE = 15, 150


def collapse_spaces(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _word_count(text: str) -> int:
    return len(_WHITESPACE.split(text))


def inner_text(element: HtmlElement) -> str:
    return collapse_spaces(element.text_content())


def text_similarity(text_a: str, text_b: str) -> float:
    """1.0 when every word of `text_b` is in `text_a`, less the share of b's text that is new."""
    tokens_a = [t for t in _TOKEN_SPLIT.split(text_a.lower()) if t]
    tokens_b = [t for t in _TOKEN_SPLIT.split(text_b.lower()) if t]
    if not tokens_a or not tokens_b:
        return 0.0
    known = set(tokens_a)
    unique_b = [t for t in tokens_b if t not in known]
    return 1 - len(" ".join(unique_b)) / len(" ".join(tokens_b))


def title_element_text(root: HtmlElement) -> str:
    title = root.find(".//title")
    return inner_text(title) if title is not None else ""


def _headings(root: HtmlElement, *tags: str) -> list[HtmlElement]:
    return [e for e in root.iter(*tags) if isinstance(e, HtmlElement)]


def _strip_site_suffix(title: str) -> str:
    """Drop the last " | Site" part; when that leaves too little, drop the first part instead."""
    last_separator = list(_SEPARATOR.finditer(title))[-1]
    shortened = title[: last_separator.start()]
    if _word_count(shortened) < 3:
        shortened = _LEADING_SEGMENT.sub("", title, count=1)
    return shortened


def _strip_colon_prefix(title: str, root: HtmlElement) -> str:
    """ "Site: Headline" keeps the headline, unless a heading shows the colon is part of it."""
    if any(h.text_content().strip() == title for h in _headings(root, "h1", "h2")):
        return title
    shortened = title[title.rfind(":") + 1 :]
    if _word_count(shortened) < 3:
        return title[title.find(":") + 1 :]
    if _word_count(title[: title.find(":")]) > 5:
        return title
    return shortened


def document_title(root: HtmlElement) -> str:
    """The <title> text without site-name prefixes/suffixes (Mozilla Readability's heuristics)."""
    original = title_element_text(root)
    title = original
    hierarchical = False
    if _SEPARATOR.search(title):
        hierarchical = bool(_HIERARCHICAL_SEPARATOR.search(title))
        title = _strip_site_suffix(original)
    elif ": " in title:
        title = _strip_colon_prefix(original, root)
    elif not _MIN_PLAIN_TITLE <= len(title) <= _MAX_PLAIN_TITLE:
        h1s = _headings(root, "h1")
        if len(h1s) == 1:
            title = inner_text(h1s[0])
    title = collapse_spaces(title)
    # Four words or fewer is suspiciously short: keep the full title unless a breadcrumb
    # separator explains exactly one dropped segment.
    words = _word_count(title)
    dropped_one_segment = words == _word_count(_SEPARATOR.sub("", original)) - 1
    if words <= 4 and (not hierarchical or not dropped_one_segment):
        title = original
    return title


# A headline is a line: longer text that shares the title's words is the article's first sentence.
_TITLE_LINE_MAX_CHARS = 250
# Readability's bar for a heading that duplicates the title...
_TITLE_LINE_SIMILARITY = 0.75
# ...and at least half the title is in the line (not one word of it, like a section label).
_TITLE_COVERAGE = 0.5
# The headline opens the article: the title's words further down are the article's own.
_TITLE_LINE_WINDOW = 3


def is_title_line(line: str, titles: Sequence[str]) -> bool:
    """Is `line` one of `titles` (the headline, the <title>) repeated in the text?"""
    if len(line) > _TITLE_LINE_MAX_CHARS:
        return False
    return any(
        title
        and text_similarity(title, line) >= _TITLE_LINE_SIMILARITY
        and text_similarity(line, title) >= _TITLE_COVERAGE
        for title in titles
    )


def without_title_lines(text: str, titles: Sequence[str]) -> str:
    """`text` without the headline repeated among its first paragraphs (as Readability drops a
    heading that duplicates the title): the title is metadata of its own."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    kept = [p for i, p in enumerate(paragraphs) if i >= _TITLE_LINE_WINDOW or not is_title_line(p, titles)]
    return "\n\n".join(kept) if kept else text
