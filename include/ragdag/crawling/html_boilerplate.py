"""Recognise page furniture (menus, sidebars, comment threads, share bars) by class, id and role.

The patterns are Mozilla Readability's current "unlikely candidates": what its first pass prunes
before it scores anything.
"""

from __future__ import annotations

import copy
import re

from lxml.html import HtmlElement

_UNLIKELY = re.compile(
    r"-ad-|ai2html|banner|breadcrumbs|combx|comment|community|cover-wrap|disqus|extra|footer|gdpr"
    r"|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|social|sponsor"
    r"|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote",
    re.IGNORECASE,
)
# A boilerplate-looking name that also says "content" or "article" may well be the article.
_MAYBE_CANDIDATE = re.compile(r"and|article|body|column|content|main|mathjax|shadow", re.IGNORECASE)
_UNLIKELY_ROLES = frozenset(
    {"menu", "menubar", "complementary", "navigation", "alert", "alertdialog", "dialog"}
)
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
