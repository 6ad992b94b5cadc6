"""Main text of an article page, from two extractors that fail in different ways.

readability-lxml (a Mozilla Readability port) scores DOM blocks and keeps the best one with its
siblings: precise, but on some layouts it settles on a sub-block and loses part of the article.
trafilatura walks the whole page and keeps paragraph-like text: it recovers those losses but lets
in more boilerplate and, on short pages, drops text readability keeps. Readability's text is the
default; trafilatura's replaces it when it clearly contains the same article and more, when the
two found different blocks of the page, or when readability found next to nothing once page
furniture was pruned. Both read the page without its call-to-action boxes (newsletter, share
bar, paywall: `html_boilerplate.without_promotions`); both outputs lose teaser links, link-only
"related" sections, bare dates, copyright lines and picture credits first
(`html_boilerplate.without_link_blocks`); the text chosen loses the short closing lines that
only its own extractor kept, and the short lines the page's nav, aside, header or footer says too.
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

from ragdag.crawling.html_boilerplate import (
    FURNITURE_LINE_MAX_CHARS,
    furniture_lines,
    normalized_line,
    without_link_blocks,
    without_promotions,
    without_unlikely_candidates,
)
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
# Shorter than a sentence: a label, a tag, a credit, a button.
_TAIL_LINE_CHARS = 40


def _word_counts(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def _readability_summary_text(root: HtmlElement) -> str:
    try:
        summary = Document(root).summary(html_partial=True)
        tree = lxml.html.fragment_fromstring(summary, create_parent="div")
    except Exception:  # noqa: BLE001 - the library raises assorted errors on odd markup
        return ""
    return element_text(without_link_blocks(tree))


def readability_text(root: HtmlElement) -> tuple[str, bool]:
    """Main content according to readability-lxml, as paragraphs, and whether it was a retry.

    readability-lxml's own boilerplate filter predates "related posts" and share bars, so the page
    goes in without the furniture current Readability prunes; like Readability, it retries on the
    whole page when that pruning leaves too little.
    """
    pruned = _readability_summary_text(without_unlikely_candidates(root))
    if len(pruned) >= _TOO_SHORT_CHARS:
        return pruned, False
    return _readability_summary_text(copy.deepcopy(root)), True


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
    return shared >= _CONTAINMENT * precise_total and sum(broad_words.values()) >= _SUPERSET_GROWTH * precise_total


def choose_content(precise: str, broad: str) -> str:
    """Readability's text (`precise`) unless trafilatura's (`broad`) is clearly more complete."""
    return broad if _broad_is_better(precise, broad) else precise


def without_unconfirmed_tail(chosen: str, other: str) -> str:
    """`chosen` without the short lines closing it that the other extractor did not keep.

    After an article come its page's last words: "Share:", a tag or two, "Contact", a photo
    credit. A line that short which only one of the two extractors took is likelier to be those
    than the article's last line, which both find.
    """
    confirmed = normalized_line(other)
    if not confirmed:
        return chosen
    paragraphs = chosen.split("\n\n")
    end = len(paragraphs)
    while (
        end > 1
        and len(paragraphs[end - 1]) < _TAIL_LINE_CHARS
        and normalized_line(paragraphs[end - 1]) not in confirmed
    ):
        end -= 1
    return "\n\n".join(paragraphs[:end])


def without_furniture_lines(text: str, furniture: set[str]) -> str:
    """`text` without the short paragraphs that are also what a nav, aside, header or footer says."""
    paragraphs = text.split("\n\n")
    kept = [p for p in paragraphs if len(p) > FURNITURE_LINE_MAX_CHARS or normalized_line(p) not in furniture]
    return "\n\n".join(kept)


def main_text(root: HtmlElement, url: str | None = None) -> str:
    """Plain-text main content of a cleaned page (see `html_tree.remove_invisible`)."""
    furniture = furniture_lines(root)
    root = without_promotions(root)
    broad = trafilatura_text(root, url)
    precise, retried = readability_text(root)
    # Readability's retry on the unpruned page is its weakest guess (it often lands in the page
    # furniture it first pruned); trafilatura's, when it found an article's worth, is likelier.
    if retried and len(broad) >= _TOO_SHORT_CHARS:
        chosen = without_unconfirmed_tail(broad, precise)
    else:
        chosen = choose_content(precise, broad)
        chosen = without_unconfirmed_tail(chosen, broad if chosen is precise else precise)
    return without_furniture_lines(chosen, furniture)
