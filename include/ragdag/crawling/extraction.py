"""Main-content and metadata extraction from an article page."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ExtractedArticle(BaseModel):
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    content: str = ""


def extract_article(html: str | bytes, url: str | None = None) -> ExtractedArticle:
    """Extract title, author, published date, language and main text from one HTML page."""
    import trafilatura

    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    meta = trafilatura.extract_metadata(html, default_url=url)
    text = trafilatura.extract(html, url=url) or ""
    return ExtractedArticle(
        title=meta.title if meta else None,
        author=meta.author if meta else None,
        language=None,
        content=text,
    )
