"""An author's blog on the real local test server: article pages that answer conditional GETs, an
RSS feed and a sitemap.xml generated from the pages they list, and a robots.txt.

The pages are the shared real-world article pages; what the server answered is recorded so tests
can tell a full download from a 304.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from http_server import Hit, LocalHttpServer, Reply

LAST_MODIFIED = "Wed, 21 Oct 2025 07:28:00 GMT"
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"


class BlogSite:
    def __init__(self, server: LocalHttpServer, pages_dir: Path) -> None:
        self.server = server
        self.pages_dir = pages_dir
        self.bodies: dict[str, bytes] = {}
        self.served: list[tuple[str, int]] = []  # (path, status) of every page answer
        self.feed_paths: list[str] = []
        self.sitemap_paths: list[str] = []
        server.route("/robots.txt", Reply(body=ROBOTS_TXT, content_type="text/plain"))
        server.route("/feed.xml", lambda _hit: self.rss())
        server.route("/sitemap.xml", lambda _hit: self._sitemap())

    def url(self, path: str) -> str:
        return self.server.url(path)

    def add_page(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path`` (again: a changed page) with an ETag and a Last-Modified."""
        self.bodies[path] = body
        self.server.route(path, self._page)
        return self.url(path)

    def add_article(self, name: str, path: str | None = None) -> str:
        """Serve the shared page ``name`` at /posts/<name> (or ``path``)."""
        return self.add_page(path or f"/posts/{name}", (self.pages_dir / name / "source.html").read_bytes())

    def statuses(self, path: str, since: int = 0) -> list[int]:
        return [status for served_path, status in self.served[since:] if served_path == path]

    def _page(self, hit: Hit) -> Reply:
        path = urlsplit(hit.path).path
        body = self.bodies[path]
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        status = 304 if hit.headers.get("if-none-match") == etag else 200
        self.served.append((path, status))
        if status == 304:
            return Reply(status=304, content_type=None, headers=validators)
        return Reply(body=body, headers=validators)

    def rss(self) -> Reply:
        items = "".join(
            f"<item><title>{escape(path)}</title><link>{escape(self.url(path))}</link>"
            f"<guid>{escape(self.url(path))}</guid></item>"
            for path in self.feed_paths
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
            f"<link>{escape(self.url('/'))}</link><description>posts</description>{items}</channel></rss>"
        )
        return Reply(body=body.encode(), content_type="application/rss+xml; charset=utf-8")

    def _sitemap(self) -> Reply:
        urls = "".join(f"<url><loc>{escape(self.url(path))}</loc></url>" for path in self.sitemap_paths)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )
        return Reply(body=body.encode(), content_type="application/xml")
