"""Session-wide fixtures: the shared corpus, an isolated data dir, the MongoDB test server."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
ARTICLE_PAGES_DIR = SHARED_DIR / "corpus" / "article-pages"


@pytest.fixture(scope="session")
def article_pages_dir() -> Path:
    """The shared real-world article pages (read at test time, never copied into the repo)."""
    if not ARTICLE_PAGES_DIR.is_dir():
        raise FileNotFoundError(
            f"{ARTICLE_PAGES_DIR} is missing: clone the project beside the shared/ folder"
        )
    return ARTICLE_PAGES_DIR
