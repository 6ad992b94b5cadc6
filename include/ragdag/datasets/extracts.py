"""Group a document's consecutive chunks into extracts of ``min_chars``–``max_chars`` characters.

Chunks overlap (the chunker repeats the tail of one at the head of the next) and repository chunks
repeat their file path on top: both are removed when chunks are joined, so an extract is the
author's continuous text. Extracts never cross a repository file; a post, or any document shorter
than ``max_chars``, is one extract.

Code extracts are verbatim slices of the (cleaned) file from a line start to a line end: the
chunker's code chunks tile the file and overlap by whole lines, so joining them less the lines
each repeats gives the file back, which is then cut where the chunker cuts code
(:func:`ragdag.features.chunking.code_pieces`: top-level statements with their decorators and
comments, found with ``ast`` for Python; a definition longer than ``max_chars`` at its members, a
big class at its methods; then lines), the pieces packed greedily up to ``min_chars`` (the pieces
of one definition only with each other).

Headings are the page's own, marked as such (Markdown ``#`` lines): a short line of its own is
not a heading, since list items and captions look the same once a page is plain text. Pure
functions.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from itertools import accumulate, groupby
from typing import Any

from ragdag.datasets.records import Extract
from ragdag.features.chunking import code_pieces
from ragdag.models import Category

_MIN_OVERLAP = 12  # characters; shorter matches are coincidences, not the chunker's overlap
_TERMINAL = re.compile(r"[.!?:;,…)\]\"'”’]$")
_HEADING_MAX_WORDS = 14
_HEADING_MARK = re.compile(r"#{1,6}[ \t]+(?=\S)")
# A chunk of Python that starts a definition: comments, then a decorator or a def / class line.


def strip_overlap(previous: str, following: str) -> str:
    """``following`` without the head it repeats from the end of ``previous``."""
    probe = following[:_MIN_OVERLAP]
    if len(probe) < _MIN_OVERLAP:
        return following
    start = max(0, len(previous) - len(following))
    position = previous.find(probe, start)
    while position != -1:
        tail = previous[position:]
        if following.startswith(tail):
            return following[len(tail) :]
        position = previous.find(probe, position + 1)
    return following


def strip_line_overlap(previous: str, following: str) -> str:
    """``following`` without the whole lines it repeats from the end of ``previous`` (code chunks
    overlap by whole lines, possibly a single short one)."""
    position = 0
    while position < len(previous):
        tail = previous[position:]
        if len(tail) <= len(following) and following.startswith(tail):
            return following[len(tail) :]
        newline = previous.find("\n", position)
        if newline == -1:
            break
        position = newline + 1
    return following


def is_heading(line: str, title: str | None = None) -> bool:
    """A section heading the page marks as one (``# …``): a short line, no closing punctuation."""
    stripped = line.strip()
    if not _HEADING_MARK.match(stripped):
        return False
    text = stripped.lstrip("#").strip()
    words = text.split()
    if not words or len(words) > _HEADING_MAX_WORDS or len(text) > 100:
        return False
    if _TERMINAL.search(text) or not text[0].isupper() or text.lower().startswith("by "):
        return False
    return title is None or text.casefold() != title.strip().casefold()


def heading_text(line: str) -> str:
    """The words of a heading line, without its ``#`` marks."""
    return line.strip().lstrip("#").strip()


def headings_in(text: str, title: str | None) -> list[str]:
    """The marked headings of ``text`` (lines of their own), in order."""
    return [heading_text(line) for line in text.split("\n") if is_heading(line, title)]


def _file_of(chunk_text: str) -> tuple[str | None, str]:
    head, _, body = chunk_text.partition("\n")
    return (head.strip() or None, body) if body else (None, chunk_text)


def _join(parts: list[str]) -> str:
    text = parts[0]
    for part in parts[1:]:
        rest = strip_overlap(text, part)
        if not rest.strip():
            continue
        glue = "" if rest[:1].isspace() or text[-1:].isspace() else ("\n\n" if rest is part else "")
        text = text + glue + rest
    return text.strip()


def _pack(texts: list[str], min_chars: int, max_chars: int) -> list[list[int]]:
    """Indexes of ``texts`` grouped greedily; a short last group joins the previous when it fits."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, text in enumerate(texts):
        if current and (size >= min_chars or size + len(text) > max_chars):
            groups.append(current)
            current, size = [], 0
        current.append(index)
        size += len(text)
    if current:
        if groups and size < min_chars and size + sum(len(texts[i]) for i in groups[-1]) <= max_chars:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def _without_blank_edges(text: str) -> str:
    """``text`` less its leading and trailing blank lines (indentation of the first line kept)."""
    text = re.sub(r"\A(?:[ \t]*\n)+", "", text)
    return re.sub(r"(?:\n[ \t]*)+\Z", "", text)


def _code_extract_texts(
    bodies: list[str], path: str | None, min_chars: int, max_chars: int
) -> list[tuple[list[int], str]]:
    """(chunk indexes, text) of a file's extracts: the file rebuilt from its chunks, cut where the
    chunker cuts code (statements, a big definition's members, lines) and packed greedily."""
    fresh = [bodies[0], *(strip_line_overlap(a, b) for a, b in zip(bodies, bodies[1:], strict=False))]
    body = "".join(fresh)
    chunk_ends = list(accumulate(len(f) for f in fresh))
    groups: list[tuple[int, int, int]] = []  # (start, end, parent) as the pieces'
    for start, end, parent in code_pieces(body, path, max_chars):
        # Pieces of one definition (a big class's methods) pack together, not with what follows it.
        last = groups[-1] if groups else None
        if last and last[2] == parent and last[1] - last[0] < min_chars and end - last[0] <= max_chars:
            groups[-1] = (last[0], end, parent)
        else:
            groups.append((start, end, parent))
    extracts = []
    for start, end, _ in groups:
        first = bisect_right(chunk_ends, start)
        last = bisect_left(chunk_ends, end)
        extracts.append((list(range(first, min(last, len(fresh) - 1) + 1)), _without_blank_edges(body[start:end])))
    return extracts


def document_extracts(
    chunks: list[Mapping[str, Any]], *, title: str | None, min_chars: int, max_chars: int
) -> list[Extract]:
    """The extracts of one document's chunks (in chunk order)."""
    first = chunks[0]
    category = Category(first["category"])
    if category is Category.REPOSITORIES:
        # One run of chunks per file: the path heads each chunk of the file.
        runs = [(path, list(group)) for path, group in groupby(chunks, key=lambda c: _file_of(c["text"])[0])]
        bodies = {id(c): _file_of(c["text"])[1] for c in chunks}
    else:
        runs = [(None, list(chunks))]
        bodies = {id(c): c["text"] for c in chunks}
    total = sum(len(bodies[id(c)]) for c in chunks)
    extracts: list[Extract] = []
    section: str | None = None
    for path, run in runs:
        texts = [bodies[id(c)] for c in run]
        if category is Category.REPOSITORIES:
            grouped = _code_extract_texts(texts, path, min_chars, max_chars)
        else:
            if category is Category.POSTS or total <= max_chars:
                groups = [list(range(len(run)))]
            else:
                groups = _pack(texts, min_chars, max_chars)
            grouped = [(group, _join([texts[i] for i in group])) for group in groups]
        for part, (group, text) in enumerate(grouped):
            if not text.strip():
                continue
            headings = [] if path else headings_in(text, title)
            if path:
                section = path
            elif headings and heading_text(text.split("\n", 1)[0]) == headings[0]:
                section = headings[0]
            extracts.append(
                Extract(
                    extract_id=f"{first['document_id']}:{len(extracts)}",
                    document_id=str(first["document_id"]),
                    position=len(extracts),
                    category=category,
                    author_full_name=str(first.get("author_full_name") or ""),
                    source=first.get("url"),
                    title=title,
                    section=section,
                    headings=headings,
                    part=part,
                    chunk_indexes=[int(run[i]["chunk_index"]) for i in group],
                    text=text,
                )
            )
            if headings and not path:
                section = headings[-1]
    return extracts


def group_extracts(
    chunks: Iterable[Mapping[str, Any]],
    titles: Mapping[str, str | None],
    *,
    min_chars: int,
    max_chars: int,
) -> list[Extract]:
    """Every document's extracts, documents in id order, chunks in chunk order."""
    ordered = sorted(chunks, key=lambda c: (str(c["document_id"]), int(c["chunk_index"])))
    extracts: list[Extract] = []
    for doc_id, group in groupby(ordered, key=lambda c: str(c["document_id"])):
        extracts += document_extracts(list(group), title=titles.get(doc_id), min_chars=min_chars, max_chars=max_chars)
    return extracts
