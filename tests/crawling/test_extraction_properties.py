"""Property tests: random HTML-ish pages and random bytes never crash the extractor or the decoder.

Bounded with `max_examples` (no deadline: the third-party extractors vary in speed), so each test
takes seconds and runs in the default suite.
"""

from __future__ import annotations

import html
import json
import re

import lxml.html
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from ragdag.crawling.extraction import ExtractedArticle, extract_article
from ragdag.crawling.extraction.html_decoding import decode_html

# Text that must never reach the content: it lives in scripts, styles and hidden elements.
HIDDEN_MARKER = "zqxhiddenmarker"

_TAGS = st.sampled_from(
    ["div", "p", "span", "article", "section", "main", "nav", "footer", "aside", "header", "ul",
     "li", "a", "b", "i", "h1", "h2", "table", "tr", "td", "pre", "code", "blockquote", "figure",
     "figcaption", "form", "noscript", "br", "img", "font", "center"]
)  # fmt: skip
_CLASSES = st.sampled_from(
    ["", "content", "article-body", "post", "related", "sidebar", "comment", "share", "footer",
     "menu", "entry-content", "newsletter", "breadcrumbs", "main", "widget", "x" * 300]
)  # fmt: skip
_WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<>&"),
    max_size=60,
)
_ENTITIES = st.sampled_from(["&amp;", "&lt;", "&gt;", "&nbsp;", "&#233;", "&#x1F600;", "&eacute;",
                             "&bogus;", "&#0;", "&#xD800;", "&", "&#99999999;"])  # fmt: skip
_JUNK = st.sampled_from(["<", ">", "</", "<!--", "-->", "<![CDATA[", "]]>", "<?xml?>", "<!DOCTYPE",
                         '"', "'", "=", "</p>", "</div>", "<p", "<html>", "<body>", "</html>"])  # fmt: skip
_TEXT = st.lists(st.one_of(_WORDS, _ENTITIES, _JUNK), max_size=8).map("".join)


def _element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    attributes = st.tuples(_CLASSES, st.sampled_from(["", ' style="display:none"', " hidden",
                                                      ' role="navigation"', ' lang="fr"', ' id="main"']))  # fmt: skip
    return st.builds(
        lambda tag, attrs, inner, closed: (
            f'<{tag} class="{attrs[0]}"{attrs[1]}>' + "".join(inner) + (f"</{tag}>" if closed else "")
        ),
        _TAGS,
        attributes,
        st.lists(children, max_size=5),
        st.booleans(),
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_JSON_LD = st.one_of(
    _JSON.map(json.dumps),
    st.builds(
        lambda kind, value: json.dumps(
            {
                "@context": "https://schema.org",
                "@type": kind,
                "headline": value,
                "author": value,
                "datePublished": value,
            }
        ),
        st.sampled_from(["NewsArticle", "Article", "BlogPosting", "WebPage"]),
        _JSON,
    ),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    _TEXT,
)
_BODY = st.recursive(_TEXT, _element, max_leaves=40)


@st.composite
def pages(draw: st.DrawFn) -> str:
    head = "".join(
        draw(
            st.lists(
                st.one_of(
                    _TEXT.map(lambda t: f"<title>{t}</title>"),
                    _TEXT.map(lambda t: f'<meta name="author" content="{html.escape(t)}">'),
                    _TEXT.map(lambda t: f'<meta property="og:title" content="{html.escape(t)}">'),
                    _JSON_LD.map(lambda j: f'<script type="application/ld+json">{j}</script>'),
                    st.just(f"<script>var x = '{HIDDEN_MARKER}';</script>"),
                    st.just(f"<style>.{HIDDEN_MARKER} {{ color: red }}</style>"),
                    st.sampled_from(
                        [
                            '<meta charset="utf-8">',
                            '<meta charset="shift_jis">',
                            '<meta charset="bogus">',
                            '<html lang="de">',
                            '<base href="x">',
                        ]
                    ),  # fmt: skip
                ),
                max_size=6,
            )
        )
    )
    body = "".join(draw(st.lists(_BODY, max_size=6)))
    hidden = f'<div style="display:none">{HIDDEN_MARKER}</div><div hidden>{HIDDEN_MARKER}</div>'
    return draw(st.sampled_from(["<!DOCTYPE html>", "", "<?xml version='1.0'?>"])) + (
        f"<html><head>{head}</head><body>{body}{hidden}</body></html>" if draw(st.booleans()) else head + body + hidden
    )


# Not "head": libxml2 leaves body text that follows a stray table tag inside <head>, where a
# browser shows it (and so does our extractor, rightly).
_NEVER_SHOWN = {"script", "style", "title", "template", "noscript"}


def _marker_only_hidden(source: str) -> bool:
    """Does the marker occur only where a reader never sees it? Random junk before the hidden
    blocks ("</<div ...>" is a bogus comment, not a tag) can make the marker visible text."""
    try:
        root = lxml.html.document_fromstring(source)
    except (etree.ParserError, ValueError):
        return True
    for node in root.iter():
        for text, owner in ((node.text, node), (node.tail, node.getparent())):
            if not text or HIDDEN_MARKER not in text or owner is None:
                continue
            if not isinstance(owner.tag, str):  # a comment or processing instruction
                continue
            chain = [owner, *owner.iterancestors()]
            if not any(
                e.tag in _NEVER_SHOWN or e.get("hidden") is not None or "display:none" in (e.get("style") or "")
                for e in chain
            ):
                return False
    return True


def _check(article: ExtractedArticle, source: str) -> None:
    assert isinstance(article, ExtractedArticle)
    if _marker_only_hidden(source):
        assert HIDDEN_MARKER not in article.content
    # The content is text of the page: every visible character of it occurs in the page source.
    source_chars = set(html.unescape(source)) | set(source)
    stray = {c for c in article.content if not c.isspace()} - source_chars
    assert not stray, f"characters not in the page: {stray!r}"
    assert "\n\n\n" not in article.content
    assert article.language is None or re.fullmatch(r"[a-z]{2,3}", article.language)
    for value in (article.title, article.author):
        assert value is None or (isinstance(value, str) and value.strip())


@settings(max_examples=100, deadline=None)
@given(page=pages())
def test_random_html_never_crashes_and_keeps_only_page_text(page: str) -> None:
    _check(extract_article(page), page)
    _check(extract_article(page.encode("utf-8"), url="https://example.org/a"), page)


_CHARSETS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "utf-8",
            "UTF-8",
            "iso-8859-1",
            "windows-1252",
            "shift_jis",
            "euc-jp",
            "gb2312",
            "big5",
            "koi8-r",
            "utf-16",
            "utf-16le",
            "utf-32",
            "iso-2022-jp",
            "ascii",
            "x-user-defined",
            "base64",
            "rot13",
            "zlib",
            "unknown",
            "",
        ]
    ),  # fmt: skip
    st.text(max_size=20),
)
_LEAD = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00",
                         b'<meta charset="shift_jis">', b'<meta charset="utf-16">',
                         b"<meta charset=bogus>", b"\x1b$B"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(lead=_LEAD, data=st.binary(max_size=3000), charset=_CHARSETS)
def test_random_bytes_and_charsets_never_raise(lead: bytes, data: bytes, charset: str | None) -> None:
    assert isinstance(decode_html(lead + data, charset), str)


# Text a server could send as UTF-8 HTML: no control characters besides whitespace (a page of
# control bytes is treated as binary), and no leading U+FEFF (its encoding is the UTF-8 BOM).
_UTF8_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\t\n\r"),
    max_size=400,
).filter(lambda t: not t.startswith("\ufeff"))


@settings(max_examples=300, deadline=None)
@given(
    text=_UTF8_TEXT,
    meta=st.sampled_from(["", '<meta charset="iso-8859-1">', '<meta charset="shift_jis">', "<meta charset=utf-8>"]),
    charset=_CHARSETS,
)
def test_valid_utf8_round_trips_whatever_the_labels_say(text: str, meta: str, charset: str | None) -> None:
    page = meta + text
    assert decode_html(page.encode("utf-8"), charset) == page
