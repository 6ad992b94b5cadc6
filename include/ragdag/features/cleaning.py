"""Per-category text cleaning: pure functions from a stored document to the text that gets chunked.

Prose (articles, posts) is normalized hard: NFKC, one space between words, paragraphs kept, leftover
markup, non-content symbols (emoji, pictographs) and URL-only lines dropped. Code (repositories)
stays verbatim (no Unicode normalization; indentation, blank lines and spacing kept), so that the
dataset stage's code answers are the file's own text: only line endings become ``\n``, and
invisible characters (controls, zero-width and bidi marks), data lines and machine-generated files
(lock files, minified bundles, binaries) go.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ragdag.crawling.sources.repository_files import path_skip_reason
from ragdag.models import Category

# Bumped whenever a rule below (or a repository file rule) changes what a document cleans to:
# stored features are rebuilt. 2: the repository file rules are the crawler's (one owner).
# 3: code is kept verbatim (no NFKC, blank-line runs and trailing spaces kept).
CLEANING_VERSION = "3"


@dataclass(frozen=True)
class Section:
    """A piece chunked on its own: the whole text of prose, one file of a repository."""

    body: str
    heading: str | None = None  # repeated on top of every chunk of the section (the file path)


@dataclass(frozen=True)
class CleanedDocument:
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        parts = [f"{s.heading}\n{s.body}" if s.heading else s.body for s in self.sections]
        return "\n\n".join(parts)

    @property
    def is_empty(self) -> bool:
        return not any(s.body.strip() for s in self.sections)


@dataclass(frozen=True)
class RepositoryRules:
    # Which files are skipped is ragdag.crawling.sources.repository_files' (path_skip_reason).
    # Longer lines are data (base64, minified code, embedded blobs), not code worth retrieving.
    max_line_chars: int = 1000


REPOSITORY_RULES = RepositoryRules()

# Controls, format (zero-width, bidi marks), private use, surrogates, unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
_NON_CONTENT = _INVISIBLE | {"So"}  # prose also drops emoji, pictographs, box drawing

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|/|#)[^)]*\)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_HAS_WORD = re.compile(r"\w")


# ASCII controls other than tab and newline, or any non-ASCII character (checked one by one):
# most text is ASCII, so the per-character Unicode lookup runs on few characters.
_SUSPECT_CHAR = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|[^\x00-\x7f]")


def _drop_chars(text: str, categories: frozenset[str]) -> str:
    def keep(match: re.Match[str]) -> str:
        ch = match.group()
        if ch.isascii() or ch == "\ufffd" or unicodedata.category(ch) in categories:
            return ""
        return ch

    return _SUSPECT_CHAR.sub(keep, text)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\u2028", "\n").replace("\u2029", "\n\n")


def _strip_markup(text: str) -> str:
    text = html.unescape(text)
    text = _HTML_COMMENT.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_IMAGE.sub(r"\1", text)
    return _MD_LINK.sub(r"\1", text)


def _is_url_only(line: str) -> bool:
    return _URL.search(line) is not None and not _HAS_WORD.search(_URL.sub("", line))


def _tidy_prose_lines(text: str, *, drop_inline_urls: bool) -> str:
    lines: list[str] = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if _is_url_only(line):
            continue  # link lists, "Read more: https://..." leftovers carry no content
        if drop_inline_urls:
            line = _SPACES.sub(" ", _URL.sub("", line)).strip()
        # Lines without a letter or digit are separators, bullets, leftover punctuation.
        lines.append(line if _HAS_WORD.search(line) else "")
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _clean_prose(text: str, *, drop_inline_urls: bool) -> str:
    text = _normalize(text)
    text = _strip_markup(text)
    text = _normalize(text)  # unescaped entities may be compatibility characters again
    text = _drop_chars(text, _NON_CONTENT)
    return _tidy_prose_lines(text, drop_inline_urls=drop_inline_urls)


def clean_article(document: Mapping[str, Any]) -> CleanedDocument:
    text = _clean_prose(document.get("content") or "", drop_inline_urls=False)
    return CleanedDocument((Section(text),))


def clean_post(document: Mapping[str, Any]) -> CleanedDocument:
    # Social posts carry tracking and shortened links (t.co, lnkd.in): noise for retrieval.
    text = _clean_prose(document.get("content") or "", drop_inline_urls=True)
    return CleanedDocument((Section(text),))


def clean_code(text: str, rules: RepositoryRules = REPOSITORY_RULES) -> str:
    """The code as written, less invisible characters (controls, zero-width and bidi marks), data
    lines and the blank lines around it."""
    text = _drop_chars(text.replace("\r\n", "\n").replace("\r", "\n"), _INVISIBLE)
    lines = [line for line in text.split("\n") if len(line) <= rules.max_line_chars]
    return "\n".join(lines).strip("\n")


def is_skipped_file(path: str) -> bool:
    """Machine-made or not worth retrieving, by the crawler's rules (documents stored before a
    rule was added still carry such files)."""
    return path_skip_reason(path.replace("\\", "/")) is not None


def clean_repository(document: Mapping[str, Any]) -> CleanedDocument:
    """One section per kept file, headed by its path; the ``content`` only when there are no files."""
    files = document.get("files") or []
    sections = []
    for file in files:
        path, content = str(file.get("path") or ""), str(file.get("content") or "")
        if is_skipped_file(path):
            continue
        body = clean_code(content)
        if body.strip():
            sections.append(Section(body, heading=_normalize(path)))
    if not files:
        body = clean_code(document.get("content") or "")
        if body.strip():
            sections.append(Section(body))
    return CleanedDocument(tuple(sections))


Cleaner = Callable[[Mapping[str, Any]], CleanedDocument]

CLEANERS: Mapping[Category, Cleaner] = {
    Category.ARTICLES: clean_article,
    Category.POSTS: clean_post,
    Category.REPOSITORIES: clean_repository,
}


def clean_document(document: Mapping[str, Any]) -> CleanedDocument:
    """Clean a stored document (a MongoDB record) with the cleaner of its ``category``."""
    category = Category(document["category"])
    return CLEANERS[category](document)
