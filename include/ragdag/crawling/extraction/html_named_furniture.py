"""Page furniture named for what it is, which Readability's class list misses: elements hidden by a
utility class, picture credits, "about the author" boxes, post metadata, related / next-post boxes
and comment sections named in another language; and the credit that closes a picture caption.

Both extractors read the page without them (`drop_named_furniture`). The vocabularies are the
common conventions of CSS frameworks (Bootstrap, Foundation, Tailwind), WordPress and hAtom
themes and CMS templates; a named box that holds half the page's text or more is the article
itself, whatever its name says.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from ragdag.crawling.extraction.html_boilerplate import class_and_id, squeezed_length
from ragdag.crawling.extraction.html_tree import drop_elements

# Utility classes that hide an element ("hidden", "d-none", "hide", "invisible") unless a
# responsive utility shows it again from some breakpoint on ("hidden md:block", "d-none d-lg-flex").
# Screen-reader-only classes ("sr-only") are not hiding: their text is read out, headings use them.
_HIDING_CLASSES = frozenset({"hidden", "d-none", "hide", "is-hidden", "u-hidden", "invisible"})
_SHOWN_AT_BREAKPOINT = re.compile(
    r"(?:[a-z0-9]+:(?:block|flex|inline|inline-block|inline-flex|grid|table|contents|visible)"
    r"|d-(?:sm|md|lg|xl|xxl)-(?:block|flex|inline|inline-block|inline-flex|grid|table)|visible-(?:xs|sm|md|lg)(?:-\w+)?)",
    re.IGNORECASE,
)
# "About the author" boxes (WordPress themes, the Starbox plugin's "abh_"); a byline's
# "author-name" is not one.
_AUTHOR_BOX = re.compile(
    r"author[-_]?(?:box|bio|info|description|details|profile|card|about)|about[-_]?(?:the[-_]?)?author|(?:^|[-_])abh_"
    r"|entry-author|post-author-(?:box|bio)|author-wrap|authorbox|autor(?:en)?[-_]?(?:box|info)",
    re.IGNORECASE,
)
# WordPress / hAtom post metadata: "Posted on ... in ... | 3 comments".
_POST_META_CLASSES = frozenset(
    {
        "postmetadata", "entry-meta", "post-meta", "entry-utility", "post-info", "postinfo", "meta-info",
        "entry-footer", "post-footer", "postmeta", "article-meta", "byline", "post-byline", "entry-byline",
        "dateline", "posted-on", "post-date", "entry-date", "updated", "published", "publish-date", "pubdate",
        "timestamp",
    }
)  # fmt: skip
# Matched at the start of a class or id token. "teaser" is not here: German CMSs name the standfirst so.
_RELATED = re.compile(
    r"related|next-?post|next-?story|nextstory|prev-?post|previous-?post|more-about|also-read|you-may-like"
    r"|more-stories|more-from|further-reading|recommended|read-?next|up-?next",
    re.IGNORECASE,
)
# Readability's "comment" covers English names only.
_COMMENTS = re.compile(r"kommentar|comentario|commentaire|commenti|reactie|komentarz", re.IGNORECASE)
_CREDIT = re.compile(
    r"credit|copyright|photographer|fotograf|bildnachweis|quelle"
    r"|image-source|photo-source",
    re.IGNORECASE,
)
_PICTURE_CONTEXT = re.compile(r"caption|figure|image|img|photo|picture|media", re.IGNORECASE)
_PICTURE_TAGS = frozenset({"figure", "figcaption", "img", "picture"})
_CREDIT_MAX_CHARS = 150
_NEVER_FURNITURE_TAGS = frozenset({"html", "body", "article", "main"})
_ARTICLE_SHARE = 0.5

# The credit closing a caption: "... (Foto: R. Hollinger)", "... Photo: Joseph Cox",
# "(REUTERS/Denis Balibouse)". Captions with a © are left whole: `without_link_blocks` drops
# those as credit lines already.
_CREDIT_SUFFIX = re.compile(
    r"[\s|·–—-]*(?:\(\s*(?:(?:foto|photo|bild|quelle|source|credit|crédito|fuente|image|illustration|grafik|abbildung)s?\s*:|©)[^()]{1,100}\)"
    r"|(?:(?:foto|photo|bild|quelle|source|credit|crédito|fuente|image|grafik)s?\s*:|©)[^()©]{1,100}"
    r"|\([^()/]{1,60}/[^()]{1,60}\))\s*\.?\s*$",
    re.IGNORECASE,
)
_CAPTION_MAX_CHARS = 600


def _squeezed_text(element: HtmlElement) -> str:
    return " ".join(element.text_content().split())


def is_hidden_by_class(element: HtmlElement) -> bool:
    """Hidden by a CSS framework's utility class, and not shown again at some screen width."""
    tokens = (element.get("class") or "").split()
    return any(t.lower() in _HIDING_CLASSES for t in tokens) and not any(
        _SHOWN_AT_BREAKPOINT.fullmatch(t) for t in tokens
    )


def _in_picture(element: HtmlElement) -> bool:
    return any(
        ancestor.tag in ("figure", "figcaption") or _PICTURE_CONTEXT.search(ancestor.get("class") or "")
        for ancestor in element.iterancestors()
    )


def _is_picture_credit(element: HtmlElement, names: list[str], length: int) -> bool:
    """ "Photo by James Martin/CNET" in an element named for it, inside a picture or its caption."""
    return (
        element.tag not in _PICTURE_TAGS
        and length <= _CREDIT_MAX_CHARS
        and any(_CREDIT.search(name) for name in names)
        and _in_picture(element)
    )


def _is_named_box(element: HtmlElement, names: list[str]) -> bool:
    classes = (element.get("class") or "").split()
    return (
        any(_AUTHOR_BOX.search(name) for name in names)
        or any(c.lower() in _POST_META_CLASSES for c in classes)
        or any(_RELATED.match(name) or _COMMENTS.match(name) for name in names)
    )


def is_named_furniture(element: HtmlElement, page_chars: int) -> bool:
    """Does the element's class, id or place say it is page furniture (see the module docstring)?"""
    if element.tag in _NEVER_FURNITURE_TAGS:
        return False
    if is_hidden_by_class(element):
        return True
    names = class_and_id(element).split()
    length = squeezed_length(element.text_content())
    if _is_picture_credit(element, names, length):
        return True
    return length < _ARTICLE_SHARE * page_chars and _is_named_box(element, names)


def _is_caption(element: HtmlElement) -> bool:
    return element.tag == "figcaption" or any("caption" in t.lower() for t in (element.get("class") or "").split())


def _caption_credit(element: HtmlElement) -> re.Match[str] | None:
    text = _squeezed_text(element)
    if "©" in text or len(text) > _CAPTION_MAX_CHARS:
        return None
    return _CREDIT_SUFFIX.search(text)


def _strip_caption_credits(root: HtmlElement) -> None:
    """Cut the closing credit off each caption (the innermost caption element holding it)."""
    captions = [e for e in root.iter() if isinstance(e, HtmlElement) and _is_caption(e)]
    for caption in captions:
        credit = _caption_credit(caption) if caption.getparent() is not None else None
        if credit is None:
            continue
        if any(isinstance(d, HtmlElement) and _is_caption(d) and _caption_credit(d) for d in caption.iterdescendants()):
            continue
        rest = _squeezed_text(caption)[: credit.start()].strip()
        for child in list(caption):
            caption.remove(child)
        caption.text = rest
        if not rest:
            caption.drop_tree()


def drop_named_furniture(root: HtmlElement) -> None:
    """Remove the page's named furniture and cut its caption credits off, in place."""
    page_chars = squeezed_length(root.text_content()) or 1
    drop_elements([e for e in root.iter() if isinstance(e, HtmlElement) and is_named_furniture(e, page_chars)])
    _strip_caption_credits(root)
