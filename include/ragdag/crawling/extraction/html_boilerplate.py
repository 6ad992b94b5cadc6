"""Recognise page furniture: menus, sidebars, comment threads and share bars by class, id and role;
teasers and "related" lists by their links.

The class patterns are Mozilla Readability's current "unlikely candidates": what its first pass
prunes before it scores anything. The link rules apply to an extractor's output, where furniture
that looks like text survives: "Read more: <headline>" lines, "Related" headings over teaser lists.
"""

from __future__ import annotations

import copy
import re
import unicodedata

from lxml.html import HtmlElement

from ragdag.crawling.extraction.html_tree import drop_elements

_UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr"
    r"|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|sponsor"
    r"|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote",
    re.IGNORECASE,
)
# A boilerplate-looking name that also says "content" or "article" may well be the article.
_MAYBE_CANDIDATE = re.compile(r"and|article|body|column|content|main|mathjax|shadow", re.IGNORECASE)
_UNLIKELY_ROLES = frozenset({"menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog"})
_NEVER_UNLIKELY_TAGS = frozenset({"body", "a"})
# Inside tables and code, class names describe data layout, not page furniture.
SAFE_CONTAINER_TAGS = frozenset({"table", "code"})


def class_and_id(element: HtmlElement) -> str:
    return f"{element.get('class') or ''} {element.get('id') or ''}"


def is_unlikely_candidate(element: HtmlElement, inside_safe_container: bool) -> bool:
    """Does the element look like page furniture rather than (part of) the article?"""
    if element.tag in _NEVER_UNLIKELY_TAGS or inside_safe_container:
        return False
    names = class_and_id(element)
    if _UNLIKELY.search(names) and not _MAYBE_CANDIDATE.search(names):
        return True
    return element.get("role") in _UNLIKELY_ROLES


def _collect_unlikely(element: HtmlElement, inside_safe: bool, found: list[HtmlElement]) -> None:
    for child in element:
        if not isinstance(child, HtmlElement):
            continue
        if is_unlikely_candidate(child, inside_safe):
            found.append(child)
        else:
            _collect_unlikely(child, inside_safe or child.tag in SAFE_CONTAINER_TAGS, found)


def without_unlikely_candidates(root: HtmlElement) -> HtmlElement:
    """A copy of the page with every furniture-looking subtree removed."""
    pruned = copy.deepcopy(root)
    doomed: list[HtmlElement] = []
    _collect_unlikely(pruned, False, doomed)
    for element in doomed:
        element.drop_tree()
    return pruned


# Calls to action a page wraps in their own element: sign-up and subscription boxes, share bars,
# promotions, paywall notices, the author's bio box. Class names are English on most sites
# whatever their language. Only small elements go: some themes put such a class on the element
# that holds the whole article ("share-zone" around the text and its share bar).
_PROMOTION = re.compile(
    r"^(?:newsletter|subscribe|subscription|promo|share|sharing|social-share|signup|paywall"
    r"|author-bio|about-author)",
    re.IGNORECASE,
)
_PROMOTION_MAX_CHARS = 400


def _is_promotion(element: HtmlElement) -> bool:
    if element.tag in _NEVER_UNLIKELY_TAGS or element.tag == "html":
        return False
    if not any(_PROMOTION.match(token) for token in class_and_id(element).split()):
        return False
    return squeezed_length(element.text_content()) < _PROMOTION_MAX_CHARS


def drop_promotions(root: HtmlElement) -> None:
    """Remove the page's call-to-action boxes (newsletter, share bar, paywall) in place."""
    drop_elements([element for element in root.iter() if isinstance(element, HtmlElement) and _is_promotion(element)])


# Page furniture by its markup: what a nav, aside, header or footer element says ("Kontakt",
# "Auch interessant", "Sign up", the site's slogan) is no article line when an extractor's output
# repeats it. Longer text there can be a summary the article repeats on purpose.
_FURNITURE_TAGS = frozenset({"nav", "aside", "header", "footer"})
_FURNITURE_ROLES = frozenset({"navigation", "complementary", "banner", "contentinfo"})
FURNITURE_LINE_MAX_CHARS = 100


def normalized_line(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _links_within_page(element: HtmlElement) -> bool:
    """A table of contents: its entries are the article's own headings."""
    return any((a.get("href") or "").startswith("#") for a in element.iter("a"))


def _collect_furniture(element: HtmlElement, inside: bool, found: set[str]) -> None:
    for child in element:
        if not isinstance(child, HtmlElement):
            continue
        child_inside = inside or child.tag in _FURNITURE_TAGS or child.get("role") in _FURNITURE_ROLES
        if child_inside and not _links_within_page(child):
            line = normalized_line(child.text_content())
            if line and len(line) <= FURNITURE_LINE_MAX_CHARS:
                found.add(line)
        _collect_furniture(child, child_inside, found)


def furniture_lines(root: HtmlElement) -> set[str]:
    """The short texts of the page's nav, aside, header and footer elements, normalised."""
    found: set[str] = set()
    _collect_furniture(root, False, found)
    return found


# A text block that is nearly all link text and long enough to be a headline is a teaser for
# another page ("Read more: ...", "See also: ..."), not prose; shorter link-only blocks are often
# content (a "Download the report" link, a table-of-contents entry) and list items are lists of
# links the article itself makes, so both stay.
_TEASER_LINK_DENSITY = 0.8
_TEASER_MIN_CHARS = 50
_LEAF_BLOCK_TAGS = frozenset(
    {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td", "th", "dd", "dt",
     "figcaption", "caption", "div"}
)  # fmt: skip
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_NEVER_TEASER_TAGS = frozenset({"li", "td", "th", "pre"})
# "27.01.2022", "2021-10-16 10:30", "05/12/2019 - 14h05": a date line on its own.
_DATE_STAMP = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(?:[\s,T|-]+\d{1,2}[:.h]\d{2}(?::\d{2})?)?")
_COPYRIGHT = re.compile(r"\s*(?:©|\(c\)\s|copyright\b)", re.IGNORECASE)
_NOTICE_MAX_CHARS = 100
_CREDIT_MAX_CHARS = 150


def squeezed_length(text: str) -> int:
    return len(" ".join(text.split()))


def _leaf_blocks(tree: HtmlElement) -> list[HtmlElement]:
    blocks: list[HtmlElement] = []
    for element in tree.iter():
        if not isinstance(element, HtmlElement) or element.tag not in _LEAF_BLOCK_TAGS:
            continue
        if not any(isinstance(d, HtmlElement) and d.tag in _LEAF_BLOCK_TAGS for d in element.iterdescendants()):
            blocks.append(element)
    return blocks


def link_density(element: HtmlElement, length: int) -> float:
    linked = sum(squeezed_length(a.text_content()) for a in element.iter("a"))
    return linked / length if length else 0.0


def is_notice(text: str, length: int, tag: str = "p") -> bool:
    """A bare date stamp, or a copyright / picture credit line: page furniture, not prose."""
    if _DATE_STAMP.fullmatch(text.strip()):
        return True
    if length <= _NOTICE_MAX_CHARS and _COPYRIGHT.match(text) is not None:
        return True
    # A caption's credit: "Lee Elder in 1975. | © Augusta National/Getty Images".
    # Table cells and list items are data, where a © may be what the article is about.
    return length <= _CREDIT_MAX_CHARS and "©" in text and tag not in _NEVER_TEASER_TAGS


def without_link_blocks(tree: HtmlElement, teaser_lines: bool = True) -> HtmlElement:
    """Drop teaser blocks from an extractor's output tree (in place) and return it.

    Teasers are blocks of at least a headline's length that are nearly all link text; a heading
    whose section holds nothing but link-dense blocks ("Related articles", "Auch interessant")
    goes with them.
    """
    blocks = [(block, squeezed_length(block.text_content())) for block in _leaf_blocks(tree)]
    blocks = [(block, length) for block, length in blocks if length]
    dense = [link_density(block, length) >= _TEASER_LINK_DENSITY for block, length in blocks]
    doomed = {
        index
        for index, (block, length) in enumerate(blocks)
        if (teaser_lines and dense[index] and length >= _TEASER_MIN_CHARS and block.tag not in _NEVER_TEASER_TAGS)
        or is_notice(block.text_content(), length, block.tag)
    }
    headings = [block.tag in _HEADING_TAGS for block, _ in blocks]
    for index in range(len(blocks)):
        if not headings[index]:
            continue
        section = []
        for following in range(index + 1, len(blocks)):
            if headings[following]:
                break
            section.append(following)
        if section and all(dense[i] for i in section):
            doomed.add(index)
            doomed.update(section)
    for index in sorted(doomed):
        block = blocks[index][0]
        if block.getparent() is not None:
            block.drop_tree()
    return tree
