"""Find the author byline in the visible page, for pages whose metadata does not name one."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml.html import HtmlElement

from ragdag.crawling.extraction.html_boilerplate import (
    SAFE_CONTAINER_TAGS,
    class_and_id,
    is_unlikely_candidate,
)
from ragdag.crawling.extraction.title import collapse_spaces

_BYLINE_HINT = re.compile(r"byline|author|dateline|writtenby|p-author", re.IGNORECASE)
_MAX_BYLINE_CHARS = 100
# Only prefixes that cannot start a name ("Di", "Von" or "Door" can).
_BY_PREFIX = re.compile(r"^(?:(?:written|posted)\s+)?(?:by|par|por)\s*:?\s+", re.IGNORECASE)


def _likely_elements(element: HtmlElement, inside_safe: bool = False) -> Iterator[HtmlElement]:
    """Elements in document order, skipping the subtrees a reader view prunes as boilerplate."""
    for child in element:
        if not isinstance(child, HtmlElement):
            continue
        if is_unlikely_candidate(child, inside_safe):
            # Readability tests a node for the byline before pruning it, so the node itself counts.
            yield child
            continue
        yield child
        yield from _likely_elements(child, inside_safe or child.tag in SAFE_CONTAINER_TAGS)


def _looks_like_byline(element: HtmlElement) -> bool:
    hinted = (
        element.get("rel") == "author"
        or "author" in (element.get("itemprop") or "")
        or bool(_BYLINE_HINT.search(class_and_id(element)))
    )
    return hinted and 0 < len(element.text_content().strip()) < _MAX_BYLINE_CHARS


def _name_part(byline: HtmlElement) -> HtmlElement:
    """The itemprop=name inside a byline is the author alone, without "By" or the date."""
    return next(
        (e for e in byline.iterdescendants() if "name" in (e.get("itemprop") or "")),
        byline,
    )


def clean_byline(text: str | None) -> str | None:
    """Collapse whitespace and drop a leading "By"; None when nothing is left."""
    if not text:
        return None
    cleaned = _BY_PREFIX.sub("", collapse_spaces(text)).strip(" ,;:|-–—")
    return cleaned or None


def _first_byline(elements: Iterator[HtmlElement]) -> str | None:
    found = next((e for e in elements if _looks_like_byline(e)), None)
    return clean_byline(_name_part(found).text_content()) if found is not None else None


def find_byline(root: HtmlElement) -> str | None:
    """Text of the first byline-looking element, preferring those outside boilerplate.

    Like Readability, a second look covers the whole page: templates often put the byline in a
    `<header class="entry-header">` that the boilerplate filter has just pruned.
    """
    body = root.find("body")
    if body is None:
        return None
    everything = (e for e in body.iterdescendants() if isinstance(e, HtmlElement))
    return _first_byline(_likely_elements(body)) or _first_byline(everything)
