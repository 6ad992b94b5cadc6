"""Publication date of an article page as a datetime."""

from __future__ import annotations

import logging
from datetime import datetime

from dateutil import parser as date_parser
from htmldate import find_date
from lxml.html import HtmlElement

_HTMLDATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
logging.getLogger("htmldate").setLevel(logging.ERROR)


def parse_datetime(text: str | None) -> datetime | None:
    """ISO 8601 first (what metadata should hold), then the looser formats sites actually use."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    try:
        return date_parser.parse(text, fuzzy=False)
    except (ValueError, OverflowError):
        return None


def guess_published(root: HtmlElement, url: str | None) -> datetime | None:
    """When no metadata declares the date: htmldate's markup and URL heuristics, original date."""
    try:
        found = find_date(
            root,
            extensive_search=False,
            original_date=True,
            outputformat=_HTMLDATE_FORMAT,
            url=url,
        )
    except Exception:  # noqa: BLE001 - a heuristic on arbitrary markup: no date beats a crash
        return None
    return parse_datetime(found)
