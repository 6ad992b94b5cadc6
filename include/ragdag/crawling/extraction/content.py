"""Main text of an article page, from two extractors that fail in different ways.

readability-lxml (a Mozilla Readability port) scores DOM blocks and keeps the best one with its
siblings: precise, but on some layouts it settles on a sub-block and loses part of the article.
trafilatura walks the whole page and keeps paragraph-like text: it recovers those losses but lets
in more boilerplate and, on short pages, drops text readability keeps. Both read the page without
its named furniture (hidden boxes, author boxes, post metadata, related boxes, picture credits:
`html_named_furniture`) and without its call-to-action boxes (newsletter, share bar, paywall:
`html_boilerplate.drop_promotions`); both outputs lose teaser links, link-only "related"
sections, bare dates, copyright lines and picture credits first (`html_boilerplate.without_link_blocks`).

Readability's text is the default; trafilatura's replaces it when it clearly contains the same
article and more, when the two found different blocks of the page, or when readability found next
to nothing once page furniture was pruned (`agreement.choose_content`). Readability's
text, when taken, ends with the last paragraph both found (when little follows it), opens with
the standfirst only trafilatura found, and gets back the captions and lists of its own block that
the port drops (`readability_blocks`). The text chosen loses the short closing lines only its own extractor
kept, the headline repeated from the title, and the short lines the page's nav, aside, header or
footer says too.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml.html import HtmlElement
from readability import Document

from ragdag.crawling.extraction.agreement import (
    TOO_SHORT_CHARS,
    aligned_with_broad,
    choose_content,
    without_unconfirmed_tail,
)
from ragdag.crawling.extraction.html_boilerplate import (
    FURNITURE_LINE_MAX_CHARS,
    drop_promotions,
    furniture_lines,
    normalized_line,
    without_link_blocks,
    without_unlikely_candidates,
)
from ragdag.crawling.extraction.html_named_furniture import drop_named_furniture
from ragdag.crawling.extraction.html_text import element_text
from ragdag.crawling.extraction.readability_blocks import with_enclosed_blocks
from ragdag.crawling.extraction.title import without_title_lines


@dataclass(frozen=True)
class ReadabilityText:
    text: str
    retried: bool  # read from the whole page: the pruned one left too little
    page: HtmlElement  # the page as readability read it


def _readability_summary_text(root: HtmlElement) -> str:
    try:
        summary = Document(root).summary(html_partial=True)
        tree = lxml.html.fragment_fromstring(summary, create_parent="div")
    except Exception:  # noqa: BLE001 - the library raises assorted errors on odd markup
        return ""
    return element_text(without_link_blocks(tree))


def readability_text(root: HtmlElement) -> ReadabilityText:
    """Main content according to readability-lxml, as paragraphs.

    readability-lxml's own boilerplate filter predates "related posts" and share bars, so the page
    goes in without the furniture current Readability prunes; like Readability, it retries on the
    whole page when that pruning leaves too little.
    """
    pruned_page = without_unlikely_candidates(root)
    # readability-lxml edits the tree it reads: it reads a copy, the page stays for later use.
    pruned = _readability_summary_text(copy.deepcopy(pruned_page))
    if len(pruned) >= TOO_SHORT_CHARS:
        return ReadabilityText(pruned, False, pruned_page)
    return ReadabilityText(_readability_summary_text(copy.deepcopy(root)), True, root)


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


def without_furniture_lines(text: str, furniture: set[str]) -> str:
    """`text` without the short paragraphs that are also what a nav, aside, header or footer says."""
    paragraphs = text.split("\n\n")
    kept = [p for p in paragraphs if len(p) > FURNITURE_LINE_MAX_CHARS or normalized_line(p) not in furniture]
    return "\n\n".join(kept)


def _combined(precise: ReadabilityText, broad: str, titles: Sequence[str]) -> str:
    # Readability's retry on the unpruned page is its weakest guess (it often lands in the page
    # furniture it first pruned); trafilatura's, when it found an article's worth, is likelier.
    if precise.retried and len(broad) >= TOO_SHORT_CHARS:
        return without_unconfirmed_tail(broad, precise.text)
    chosen = choose_content(precise.text, broad)
    if chosen is broad:
        return without_unconfirmed_tail(broad, precise.text)
    chosen = aligned_with_broad(without_unconfirmed_tail(precise.text, broad), broad, titles)
    return with_enclosed_blocks(chosen, precise.page)


def main_text(root: HtmlElement, url: str | None = None, titles: Sequence[str] = ()) -> str:
    """Plain-text main content of a cleaned page (see `html_tree.remove_invisible`); `titles` are
    the page's headline and <title>, not repeated in the text."""
    page = copy.deepcopy(root)  # the caller reads the page further (byline, dates, language)
    drop_named_furniture(page)
    furniture = furniture_lines(page)
    drop_promotions(page)
    broad = trafilatura_text(page, url)
    precise = readability_text(page)
    return without_furniture_lines(without_title_lines(_combined(precise, broad, titles), titles), furniture)
