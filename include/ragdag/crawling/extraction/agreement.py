"""Paragraph-level agreement between the two extractors' texts: which one to take, and where
the one taken starts and ends.

readability-lxml (`precise`) finds one block of the page; trafilatura (`broad`) walks the whole
page. Where the block readability chose holds more than the article, what it has beyond the
last paragraph both found is the page's closing furniture: an author's bio, post metadata, a
caption gallery, "read more" lines. Where it holds less, the standfirst above the article's
first shared paragraph is missing, and trafilatura has it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from ragdag.crawling.extraction.html_boilerplate import normalized_line
from ragdag.crawling.extraction.title import is_title_line

_WORD = re.compile(r"\w+")
# Readability itself retries with looser rules below 500 characters: that little text usually
# means it latched onto a teaser, so a broader extractor that found twice as much is preferred.
TOO_SHORT_CHARS = 500
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
# A standfirst is a sentence or two; shorter lines above the article are dates, labels, kickers.
_LEAD_MIN_CHARS = 80
# A page's closing furniture is short next to its article: a longer unshared tail is more of the
# article, which trafilatura stopped short of (it may halt at an ad block or a widget).
_TAIL_MAX_SHARE = 0.25
# Each paragraph is looked up in the other text: paragraphs x characters bounds the work. Past
# this (tens of thousands of paragraphs on a multi-megabyte page) readability's text stays as is.
_ALIGNMENT_BUDGET = 200_000_000


def _word_counts(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def _broad_is_better(precise: str, broad: str) -> bool:
    if len(precise) < TOO_SHORT_CHARS:
        return len(broad) > _SHORT_TEXT_GROWTH * len(precise)
    precise_words, broad_words = _word_counts(precise), _word_counts(broad)
    precise_total, broad_total = sum(precise_words.values()), sum(broad_words.values())
    shared = sum((precise_words & broad_words).values())
    if shared < _DISAGREEMENT * min(precise_total, broad_total):
        return True
    return shared >= _CONTAINMENT * precise_total and broad_total >= _SUPERSET_GROWTH * precise_total


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


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def aligned_with_broad(precise: str, broad: str, titles: Sequence[str] = ()) -> str:
    """Readability's text cut after its last paragraph trafilatura also has (unless what follows
    is more than a quarter as long as what precedes it), and opened with the standfirst
    trafilatura found above their first shared paragraph (not a title line, not a paragraph
    readability has elsewhere). Unchanged when the two share no paragraph."""
    paragraphs, broad_paragraphs = _paragraphs(precise), _paragraphs(broad)
    in_broad, in_precise = normalized_line(broad), normalized_line(precise)
    if len(paragraphs) * len(in_broad) + len(broad_paragraphs) * len(in_precise) > _ALIGNMENT_BUDGET:
        return precise
    shared = [i for i, p in enumerate(paragraphs) if normalized_line(p) in in_broad]
    if not shared:
        return precise
    body, tail = paragraphs[: shared[-1] + 1], paragraphs[shared[-1] + 1 :]
    if sum(map(len, tail)) > _TAIL_MAX_SHARE * sum(map(len, body)):
        body = paragraphs
    first_shared = next((i for i, p in enumerate(broad_paragraphs) if normalized_line(p) in in_precise), 0)
    lead = [
        p
        for p in broad_paragraphs[:first_shared]
        if len(p) >= _LEAD_MIN_CHARS and normalized_line(p) not in in_precise and not is_title_line(p, titles)
    ]
    return "\n\n".join(lead + body)
