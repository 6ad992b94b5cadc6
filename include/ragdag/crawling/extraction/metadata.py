"""Article metadata declared by the page: schema.org JSON-LD first, then <meta> tags."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lxml.html import HtmlElement

from ragdag.crawling.extraction.title import collapse_spaces, document_title, text_similarity

_SCHEMA_ORG = re.compile(r"^https?://schema\.org/?$")
# schema.org Article and its subtypes (unanchored in the middle on purpose: "ReportageNewsArticle"
# and friends match through the "...Article" alternatives).
_ARTICLE_TYPES = re.compile(
    r"^Article|AdvertiserContentArticle|NewsArticle|AnalysisNewsArticle|AskPublicNewsArticle"
    r"|BackgroundNewsArticle|OpinionNewsArticle|ReportageNewsArticle|ReviewNewsArticle|Report"
    r"|SatiricalArticle|ScholarlyArticle|MedicalScholarlyArticle|SocialMediaPosting|BlogPosting"
    r"|LiveBlogPosting|DiscussionForumPosting|TechArticle|APIReference$"
)
_CDATA = re.compile(r"^\s*<!\[CDATA\[|\]\]>\s*$")
# <meta property="og:title">: property may hold several space-separated names.
_META_PROPERTY = re.compile(
    r"\s*(article|dc|dcterm|og|twitter)\s*:\s*"
    r"(author|creator|description|published_time|title|site_name)\s*",
    re.IGNORECASE,
)
_META_NAME = re.compile(
    r"^\s*(?:(dc|dcterm|og|twitter|parsely|weibo:(article|webpage))\s*[-.:]\s*)?"
    r"(author|creator|pub-date|description|title|site_name)\s*$",
    re.IGNORECASE,
)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_TITLE_KEYS = (
    "dc:title", "dcterm:title", "og:title", "weibo:article:title", "weibo:webpage:title",
    "title", "twitter:title", "parsely-title",
)  # fmt: skip
_AUTHOR_KEYS = ("dc:creator", "dcterm:creator", "author", "parsely-author")
_PUBLISHED_KEYS = ("article:published_time", "parsely-pub-date")
# Real JSON-LD nests a few levels (graph > article > author > address); far deeper is hostile.
MAX_JSON_LD_DEPTH = 64
# Two strings name the same thing when most of one's words are in the other.
_SAME_TITLE_SIMILARITY = 0.75


@dataclass(frozen=True)
class JsonLdArticle:
    title: str | None = None
    byline: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class DeclaredMetadata:
    title: str | None
    byline: str | None
    published: str | None


def _is_article(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    types = item.get("@type")
    types = types if isinstance(types, list) else [types]
    return any(isinstance(t, str) and _ARTICLE_TYPES.search(t) for t in types)


def _is_schema_org(item: dict[str, Any]) -> bool:
    context = item.get("@context")
    if isinstance(context, dict):
        context = context.get("@vocab")
    return isinstance(context, str) and bool(_SCHEMA_ORG.match(context))


def _article_node(parsed: Any) -> dict[str, Any] | None:
    """The Article object in one JSON-LD block: top level, in a top-level list, or in @graph."""
    if isinstance(parsed, list):
        parsed = next((item for item in parsed if _is_article(item)), None)
    if not isinstance(parsed, dict) or not _is_schema_org(parsed):
        return None
    if "@type" not in parsed and isinstance(parsed.get("@graph"), list):
        parsed = next((item for item in parsed["@graph"] if _is_article(item)), None)
    return parsed if _is_article(parsed) else None


def nesting_depth_exceeds(text: str, limit: int) -> bool:
    """Do JSON arrays and objects in `text` nest deeper than `limit`? One pass, no recursion.

    Brackets inside strings do not count. The text need not be valid JSON.
    """
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth = max(0, depth - 1)
    return False


def _json_ld_blocks(root: HtmlElement) -> Iterator[Any]:
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        text = _CDATA.sub("", script.text_content())
        # json.loads recurses once per level and raises RecursionError on a hostile page; real
        # schema.org metadata nests a handful of levels, so a deep block is ignored, not parsed.
        if nesting_depth_exceeds(text, MAX_JSON_LD_DEPTH):
            continue
        try:
            yield json.loads(text)
        except (ValueError, RecursionError):  # broken JSON-LD is common; the next may be fine
            continue


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _person_name(person: Any) -> str | None:
    return _text(person.get("name")) if isinstance(person, dict) else _text(person)


def _json_ld_author(author: Any) -> str | None:
    people = author if isinstance(author, list) else [author]
    names = [name for name in map(_person_name, people) if name]
    return ", ".join(names) or None


def _json_ld_title(article: dict[str, Any], root: HtmlElement) -> str | None:
    name, headline = _text(article.get("name")), _text(article.get("headline"))
    if name and headline and name != headline:
        # Some sites put their own name in "name": trust whichever matches the page title.
        page_title = document_title(root)
        name_matches = text_similarity(name, page_title) > _SAME_TITLE_SIMILARITY
        headline_matches = text_similarity(headline, page_title) > _SAME_TITLE_SIMILARITY
        return headline if headline_matches and not name_matches else name
    return name or headline


def read_json_ld(root: HtmlElement) -> JsonLdArticle:
    """Title, author and publication date of the first schema.org Article in JSON-LD."""
    article = next(filter(None, map(_article_node, _json_ld_blocks(root))), None)
    if article is None:
        return JsonLdArticle()
    return JsonLdArticle(
        title=_json_ld_title(article, root),
        byline=_json_ld_author(article.get("author")),
        published=_text(article.get("datePublished")),
    )


def _meta_key(element: HtmlElement) -> str | None:
    prop = element.get("property")
    if prop:
        match = _META_PROPERTY.search(prop)
        if match:
            return re.sub(r"\s", "", match.group(0).lower())
    name = element.get("name")
    if name and _META_NAME.match(name):
        return re.sub(r"\s", "", name.lower()).replace(".", ":")
    return None


def read_meta_values(root: HtmlElement) -> dict[str, str]:
    """Recognised <meta> tags by normalised key ("og:title", "author", ...); later tags win."""
    values: dict[str, str] = {}
    for element in root.iter("meta"):
        content, key = (element.get("content") or "").strip(), _meta_key(element)
        if content and key:
            values[key] = content
    return values


def _first(values: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((values[k] for k in keys if values.get(k)), None)


def _unescape(text: str | None) -> str | None:
    # Many sites escape their metadata twice, so entities survive the HTML parser.
    return (collapse_spaces(html.unescape(text)) or None) if text else None


def declared_metadata(json_ld: JsonLdArticle, values: dict[str, str]) -> DeclaredMetadata:
    """Merge JSON-LD and <meta> values in Readability's order of trust."""
    article_author = values.get("article:author")
    if article_author and _URL.match(article_author):
        article_author = None  # a profile link, not a name
    return DeclaredMetadata(
        title=_unescape(json_ld.title or _first(values, _TITLE_KEYS)),
        byline=_unescape(json_ld.byline or _first(values, _AUTHOR_KEYS) or article_author),
        published=_unescape(json_ld.published or _first(values, _PUBLISHED_KEYS)),
    )
