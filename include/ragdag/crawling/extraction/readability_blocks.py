"""Figure captions and lists of readability's own article that readability-lxml leaves out.

Current Readability keeps the whole block it chose, figures and lists included; readability-lxml
keeps the paragraphs it scored and their siblings, so a caption next to its <figure> or a list
in a <div> of its own is lost when the article's paragraphs sit in blocks of their own.
"""

from __future__ import annotations

import copy

import lxml.html
from lxml.html import HtmlElement

from ragdag.crawling.extraction.html_boilerplate import (
    is_notice,
    link_density,
    normalized_line,
    squeezed_length,
    without_link_blocks,
)
from ragdag.crawling.extraction.html_text import element_text

# Blocks that are readability's paragraphs when their text is one of its output's.
_ANCHOR_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})
_LIST_TAGS = frozenset({"ul", "ol"})
# Readability's own bar for a list to be content rather than a list of links.
_LIST_MAX_LINK_DENSITY = 0.2


def _block_text(block: HtmlElement) -> str:
    """The block as paragraphs, without teaser links, credits and bare dates."""
    wrapper = lxml.html.fragment_fromstring("<div></div>")
    wrapper.append(copy.deepcopy(block))
    wrapper[0].tail = None
    text = element_text(without_link_blocks(wrapper))
    return "\n\n".join(p for p in text.split("\n\n") if not is_notice(p, len(p)))


def _candidates(root: HtmlElement, position: dict[str, int]) -> tuple[list[tuple[HtmlElement, int | None]], list]:
    """In document order: captions and outermost lists (index None), and the page blocks whose
    text is paragraph `index` of readability's text (the anchors, also returned on their own)."""
    events: list[tuple[HtmlElement, int | None]] = []
    anchors: list[HtmlElement] = []
    for element in root.iter():
        if not isinstance(element, HtmlElement):
            continue
        if element.tag == "figcaption" or (
            element.tag in _LIST_TAGS and not any(a.tag in _LIST_TAGS for a in element.iterancestors())
        ):
            events.append((element, None))
        elif element.tag in _ANCHOR_TAGS:
            index = position.get(normalized_line(element_text(element)))
            if index is not None:
                anchors.append(element)
                events.append((element, index))
    return events, anchors


def _container(anchors: list[HtmlElement]) -> HtmlElement:
    """The lowest element holding every anchor."""
    shared = {anchors[0], *anchors[0].iterancestors()}
    for anchor in anchors[1:]:
        shared &= {anchor, *anchor.iterancestors()}
    return next(a for a in [anchors[0], *anchors[0].iterancestors()] if a in shared)


def with_enclosed_blocks(text: str, root: HtmlElement) -> str:
    """Readability's `text` with the captions and (not link) lists it dropped from its article.

    A caption or list counts as the article's when it sits inside the element holding the kept
    paragraphs, with kept paragraphs before and after it; it goes back in after the paragraph it
    follows. `root` is the page as readability read it.
    """
    paragraphs = text.split("\n\n")
    position: dict[str, int] = {}
    for index, paragraph in enumerate(paragraphs):
        position.setdefault(normalized_line(paragraph), index)
    events, anchors = _candidates(root, position)
    if len(anchors) < 2:
        return text
    container = _container(anchors)
    if container.tag in ("html", "body"):
        return text
    inside = set(container.iter())  # lxml proxies compare by node: sets of elements, never id()
    seen_text = normalized_line(text)
    taken: set[HtmlElement] = set()
    pending: list[str] = []
    inserted: dict[int, list[str]] = {}
    after: int | None = None
    for element, index in events:
        if index is not None:
            if after is not None and pending:
                inserted.setdefault(after, []).extend(pending)
            pending = []
            after = index if after is None else max(after, index)
            continue
        if after is None or element not in inside:
            continue
        if element.tag in _LIST_TAGS:
            if link_density(element, squeezed_length(element.text_content())) > _LIST_MAX_LINK_DENSITY:
                continue
            block = element
        else:
            parent = element.getparent()
            block = parent if parent is not None and parent.tag == "figure" else element
        if block in taken:
            continue
        taken.add(block)
        block_text = _block_text(block)
        normalized = normalized_line(block_text)
        if not normalized or normalized in seen_text:
            continue
        seen_text += " " + normalized
        pending.append(block_text)
    if not inserted:
        return text
    out: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        out.append(paragraph)
        out.extend(inserted.get(index, []))
    return "\n\n".join(out)
