"""Parse untrusted HTML into an lxml tree and drop what a reader never sees."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

# lxml refuses str input that still carries an XML encoding declaration (the text is decoded
# already), so it goes; nothing else in an XHTML prologue matters to an HTML parser.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# Control characters are invalid in HTML and make libxml2 truncate the document silently.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_HIDING_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# Longer than a "Please enable JavaScript" notice.
_FALLBACK_MIN_CHARS = 300
NON_CONTENT_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg")


def parse_html(text: str) -> HtmlElement | None:
    """The document's <html> element, or None when there is no markup to speak of."""
    text = _CONTROL_CHARS.sub("", _XML_DECLARATION.sub("", text, count=1))
    if not text.strip():
        return None
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None
    return root if isinstance(root, HtmlElement) else None


def is_hidden(element: HtmlElement) -> bool:
    """Hidden the way Readability judges it: inline style, `hidden`, or aria-hidden."""
    if _HIDING_STYLE.search(element.get("style") or ""):
        return True
    if element.get("hidden") is not None:
        return True
    # Wikimedia renders maths as an aria-hidden "fallback-image" that readers do see.
    aria_hidden = element.get("aria-hidden") == "true"
    return aria_hidden and "fallback-image" not in (element.get("class") or "")


def is_modal_dialog(element: HtmlElement) -> bool:
    return element.get("aria-modal") == "true" and element.get("role") == "dialog"


def drop_elements(doomed: list[HtmlElement]) -> None:
    """Remove elements with their subtrees but keep the text that follows each of them."""
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


def _is_fallback_content(element: HtmlElement) -> bool:
    """A <noscript> holding the page's text as markup for readers without JavaScript (not a
    one-line notice, a tracking pixel, or markup kept as escaped text): some sites render their
    whole article there."""
    if "<" in (element.text or ""):
        return False
    text = " ".join(" ".join(child.text_content().split()) for child in element if isinstance(child, HtmlElement))
    return len(text) >= _FALLBACK_MIN_CHARS


def remove_invisible(root: HtmlElement) -> None:
    """Drop hidden subtrees, modal dialogs, comments and non-content tags in place."""
    fallbacks = [element for element in root.iter("noscript") if _is_fallback_content(element)]
    for element in fallbacks:
        element.drop_tag()  # its content stays where it was
    doomed: list[HtmlElement] = [
        element
        for element in root.iter()
        if not isinstance(element, HtmlElement)  # comments and processing instructions
        or element.tag in NON_CONTENT_TAGS
        or (element is not root and (is_hidden(element) or is_modal_dialog(element)))
    ]
    drop_elements(doomed)
