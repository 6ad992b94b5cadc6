"""HTML of the platform's page: Jinja2 templates with autoescaping on, because crawled content
(titles, snippets, URLs, author names) is hostile input. Links to crawled URLs are only ever
plain ``http(s)`` links; anything else is shown as text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel

NAVIGATION = (
    ("overview", "Overview", ""),
    ("quarantine", "Quarantine", "quarantine"),
    ("datasets", "Datasets", "datasets"),
    ("models", "Models", "models"),
    ("lineage", "Lineage", "lineage"),
    ("search", "Search", "search"),
)


def http_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL (safe as an ``href``), else None."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return value.strip()
    return None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ragdag.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["http_url"] = http_url
    return env


def _root(request: Request) -> str:
    """The app's mount point as the browser sees it (``/ragdag/`` behind any base path)."""
    root = request.scope.get("root_path", "") or ""
    return root.rstrip("/") + "/"


def jsonable(value: Any) -> Any:
    """Pydantic models (and lists / dicts of them) as plain JSON values, for the API and templates."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def render_page(request: Request, page: str, **context: Any) -> HTMLResponse:
    template = _environment().get_template(f"{page}.html")
    data = {k: jsonable(v) for k, v in context.items()}
    html = template.render(page=page, navigation=NAVIGATION, root=_root(request), **data)
    return HTMLResponse(
        html,
        headers={
            # Same-origin framing only (the Airflow UI shows the page in its own frame); no inline
            # script from crawled content can run: scripts only from this app.
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "frame-ancestors 'self'; img-src 'self' data:",
            "X-Content-Type-Options": "nosniff",
        },
    )
