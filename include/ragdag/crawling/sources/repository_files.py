"""Which files of a checked-out repository are worth storing, and how they are rendered as text.

Kept: the human-written text files. Skipped, with the reason counted: vendored or generated
folders, lock files, minified code, binaries and data files, repository metadata and the license,
non-UTF-8 files, files over the size limit, links, and whatever comes after the file-count or
total-size limit (in path order, so runs agree).

The one owner of these rules: the crawler applies them to a checkout, and the feature stage's
cleaning asks ``path_skip_reason`` again for documents stored before a rule was added.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ragdag.models import RepositoryFile

IGNORED_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        "vendor",
        "dist",
        "build",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        "target",
        "coverage",
    }
)
LOCK_FILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Pipfile.lock",
        "uv.lock",
        "pdm.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "packages.lock.json",
    }
)
MINIFIED = re.compile(r"\.min\.(js|mjs|css)$|\.map$")
# Known by their name alone: media, archives, compiled code, model weights, notebooks (JSON with
# their outputs). Compared in lower case.
BINARY_OR_DATA_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".svg",
    ".webp",
    ".pdf",
    ".zip",
    ".gz",
    ".tar",
    ".whl",
    ".pyc",
    ".so",
    ".dll",
    ".exe",
    ".bin",
    ".woff",
    ".woff2",
    ".ttf",
    ".parquet",
    ".safetensors",
    ".ipynb",
)
# Files about the repository rather than its content: the same text in thousands of projects.
METADATA_FILES = frozenset({".gitignore", ".gitattributes", "LICENSE"})
# Git's own binary test: a NUL byte near the start of the file.
BINARY_SNIFF_BYTES = 8000
# A line this long is minified or generated data, not something a person wrote or reads.
MAX_LINE_CHARS = 5000


@dataclass(frozen=True)
class FileLimits:
    max_files: int
    max_file_bytes: int
    max_total_bytes: int


def path_skip_reason(path: str) -> str | None:
    """Why a path is not stored whatever its content, or None."""
    parts = PurePosixPath(path).parts
    if any(part in IGNORED_DIRS for part in parts[:-1]):
        return "vendored or generated folder"
    name = parts[-1]
    if name in LOCK_FILES or name.endswith(".lock"):
        return "lock file"
    if MINIFIED.search(name):
        return "minified"
    if name.lower().endswith(BINARY_OR_DATA_SUFFIXES):
        return "binary or data file"
    if name in METADATA_FILES:
        return "repository metadata or license"
    return None


def text_of(data: bytes) -> tuple[str | None, str | None]:
    """``(text, None)`` for a readable text file, ``(None, reason)`` otherwise."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None, "binary"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    if any(len(line) > MAX_LINE_CHARS for line in text.splitlines()):
        return None, "minified"
    return text, None


def _read_text(root: Path, path: str, max_file_bytes: int) -> tuple[str | None, str | None]:
    full = root / path
    if full.is_symlink() or not full.is_file():
        return None, "link or submodule"  # a link may point outside the checkout
    if full.stat().st_size > max_file_bytes:
        return None, "too large"
    return text_of(full.read_bytes())


def select_files(
    root: Path, paths: Iterable[str], limits: FileLimits, too_large: Collection[str] = ()
) -> tuple[list[RepositoryFile], Counter[str]]:
    """The files to store from a checkout at ``root`` and the count of skipped files per reason
    (``too_large``: paths known to be over the size limit, left out of the checkout)."""
    kept: list[RepositoryFile] = []
    skipped: Counter[str] = Counter()
    total = 0
    for path in sorted(paths):
        reason = path_skip_reason(path)
        if reason is None and len(kept) >= limits.max_files:
            reason = "over the file limit"  # decided before reading: a huge repository costs no I/O
        if reason is None and path in too_large:
            reason = "too large"
        if reason is not None:
            skipped[reason] += 1
            continue
        text, reason = _read_text(root, path, limits.max_file_bytes)
        size = len(text.encode("utf-8")) if text is not None else 0
        if text is not None and total + size > limits.max_total_bytes:
            text, reason = None, "over the total size limit"
        if text is None:
            skipped[reason or "unreadable"] += 1
            continue
        total += size
        kept.append(RepositoryFile(path=path, content=text))
    return kept, skipped


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside keeps a README's own ``` blocks from closing it.
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def render_files(files: Iterable[RepositoryFile]) -> str:
    """One ``### path`` heading and fenced block per file: the text chunked and embedded later."""
    blocks = []
    for file in files:
        fence = _fence(file.content)
        blocks.append(f"### {file.path}\n{fence}\n{file.content.rstrip(chr(10))}\n{fence}")
    return "\n\n".join(blocks)
