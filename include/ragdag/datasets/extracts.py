"""Group a document's consecutive chunks into extracts of ``min_chars``–``max_chars`` characters.

Chunks overlap (the chunker repeats the tail of one at the head of the next) and repository chunks
repeat their file path on top: both are removed when chunks are joined, so an extract is the
author's continuous text. Extracts never cross a repository file; a post, or any document shorter
than ``max_chars``, is one extract. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import Any

from ragdag.datasets.records import Extract
from ragdag.models import Category

_MIN_OVERLAP = 12  # characters; shorter matches are coincidences, not the chunker's overlap
_TERMINAL = re.compile(r"[.!?:;,…)\]\"'”’]$")
_HEADING_MAX_WORDS = 14


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


def is_heading(line: str, title: str | None = None) -> bool:
    """A section heading as the extractor leaves it: a short line of its own, no closing punctuation."""
    text = line.strip().lstrip("#").strip()
    words = text.split()
    if not words or len(words) > _HEADING_MAX_WORDS or len(text) > 100:
        return False
    if _TERMINAL.search(text) or not text[0].isupper() or text.lower().startswith("by "):
        return False
    return title is None or text.casefold() != title.strip().casefold()


def headings_in(text: str, title: str | None) -> list[str]:
    """Lines of ``text`` that stand alone as headings (a blank line or the text edge around them)."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text)]
    return [b.lstrip("#").strip() for b in blocks if "\n" not in b and is_heading(b, title)]


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
        if category is Category.POSTS or (category is not Category.REPOSITORIES and total <= max_chars):
            groups = [list(range(len(run)))]
        else:
            groups = _pack(texts, min_chars, max_chars)
        for part, group in enumerate(groups):
            text = _join([texts[i] for i in group])
            if not text:
                continue
            headings = [] if path else headings_in(text, title)
            if path:
                section = path
            elif text.split("\n", 1)[0].strip() in headings:
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
