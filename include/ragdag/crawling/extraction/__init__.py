"""Main-content and metadata extraction from an article page."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ragdag.crawling.extraction.byline import clean_byline, find_byline
from ragdag.crawling.extraction.content import main_text
from ragdag.crawling.extraction.dates import guess_published, parse_datetime
from ragdag.crawling.extraction.html_decoding import decode_html
from ragdag.crawling.extraction.html_tree import parse_html, remove_invisible
from ragdag.crawling.extraction.language import declared_language, detect_language
from ragdag.crawling.extraction.metadata import declared_metadata, read_json_ld, read_meta_values
from ragdag.crawling.extraction.title import document_title, title_element_text


class ExtractedArticle(BaseModel):
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None  # ISO 639-1 code like "en", "fr", "zh", "ar"
    content: str = ""  # plain text main content, paragraphs separated by blank lines


def extract_article(html: str | bytes, url: str | None = None, charset: str | None = None) -> ExtractedArticle:
    """Extract title, author, published date, language and main text from one HTML page.

    `charset` is the label of the HTTP Content-Type header (`FetchResult.encoding`), if any; it
    decides the decoding of bytes that are not UTF-8 (see `html_decoding.decode_html`).
    Never raises on bad markup: a page with nothing readable gives an empty article.
    """
    root = parse_html(decode_html(html, charset) if isinstance(html, bytes) else html)
    if root is None:
        return ExtractedArticle()
    # JSON-LD lives in <script> tags, which cleaning removes.
    json_ld = read_json_ld(root)
    remove_invisible(root)
    declared = declared_metadata(json_ld, read_meta_values(root))
    title = declared.title or document_title(root) or None
    content = main_text(root, url, titles=[t for t in (title, title_element_text(root)) if t])
    return ExtractedArticle(
        title=title,
        # A byline in the page only counts when the metadata names nobody (as in Readability).
        author=clean_byline(declared.byline) or find_byline(root),
        published_at=parse_datetime(declared.published) or guess_published(root, url),
        language=declared_language(root) or detect_language(content),
        content=content,
    )
