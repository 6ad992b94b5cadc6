"""Main text of an article page, from two extractors that fail in different ways.

readability-lxml (a Mozilla Readability port) scores DOM blocks and keeps the best one with its
siblings: precise, but on some layouts it settles on a sub-block and loses part of the article.
trafilatura walks the whole page and keeps paragraph-like text: it recovers those losses but lets
in more boilerplate and, on short pages, drops text readability keeps. Readability's text is the
default and trafilatura's replaces it only when it clearly contains the same article and more.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections import Counter

import lxml.html
import trafilatura
from lxml.html import HtmlElement
from readability import Document

from ragdag.crawling.html_boilerplate import without_link_blocks, without_unlikely_candidates
from ragdag.crawling.html_text import element_text

_WORD = re.compile(r"\w+")
# Readability itself retries with looser rules below 500 characters: that little text usually
# means it latched onto a teaser, so a broader extractor that found twice as much is preferred.
_TOO_SHORT_CHARS = 500
_SHORT_TEXT_GROWTH = 2.0
# "Contains the same article": nearly all of readability's words are in trafilatura's text...
_CONTAINMENT = 0.95
# ...and "and more": enough extra words to be missing paragraphs, not a stray caption or date.
_SUPERSET_GROWTH = 1.05
# Texts sharing less than this share of the shorter one's words are about different blocks of the
# page: readability settled on one block (a teaser list, a comment, a sidebar) where trafilatura's
# whole-page walk kept the article.
_DISAGREEMENT = 0.8


def _word_counts(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def _readability_summary_text(root: HtmlElement) -> str:
    try:
        summary = Document(root).summary(html_partial=True)
        tree = lxml.html.fragment_fromstring(summary, create_parent="div")
    except Exception:  # noqa: BLE001 - the library raises assorted errors on odd markup
        return ""
    return element_text(without_link_blocks(tree, teaser_lines=False))


def readability_text(root: HtmlElement) -> str:
    """Main content according to readability-lxml, as paragraphs.

    readability-lxml's own boilerplate filter predates "related posts" and share bars, so the page
    goes in without the furniture current Readability prunes; like Readability, it retries on the
    whole page when that pruning leaves too little.
    """
    pruned = _readability_summary_text(without_unlikely_candidates(root))
    if len(pruned) >= _TOO_SHORT_CHARS:
        return pruned
    return _readability_summary_text(copy.deepcopy(root))


def trafilatura_text(root: HtmlElement, url: str | None) -> str:
    """Main content according to trafilatura, rendered like readability's for a fair comparison."""
    try:
        # Its HTML output, not its text output: the latter flattens whole tables into one line.
        # Links stay in it to tell teasers from prose; comments are not the article.
        extracted = trafilatura.extract(
            copy.deepcopy(root), url=url, output_format="html", include_links=True, include_comments=False
        )
        if not extracted:
            return ""
        return element_text(without_link_blocks(lxml.html.document_fromstring(extracted)))
    except Exception:  # noqa: BLE001 - same reason as above
        return ""


def _broad_is_better(precise: str, broad: str) -> bool:
    if len(precise) < _TOO_SHORT_CHARS:
        return len(broad) > _SHORT_TEXT_GROWTH * len(precise)
    precise_words, broad_words = _word_counts(precise), _word_counts(broad)
    precise_total, broad_total = sum(precise_words.values()), sum(broad_words.values())
    shared = sum((precise_words & broad_words).values())
    if shared < _DISAGREEMENT * min(precise_total, broad_total):
        return True
    return (
        shared >= _CONTAINMENT * precise_total
        and sum(broad_words.values()) >= _SUPERSET_GROWTH * precise_total
    )


def choose_content(precise: str, broad: str) -> str:
    """Readability's text (`precise`) unless trafilatura's (`broad`) is clearly more complete."""
    return broad if _broad_is_better(precise, broad) else precise


def main_text(root: HtmlElement, url: str | None = None) -> str:
    """Plain-text main content of a cleaned page (see `html_tree.remove_invisible`)."""
    return choose_content(readability_text(root), trafilatura_text(root, url))
