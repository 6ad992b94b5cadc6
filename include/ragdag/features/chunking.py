"""Token-aware chunking of cleaned documents: one interface, per-category rules, no truncation.

Every chunk fits the embedding model's input (``max_seq_length`` word pieces *including* [CLS] and
[SEP]), measured with the model's own tokenizer, so nothing is cut off silently at encode time.

How a section is cut:
1. it is split into units at natural boundaries — sentences for prose; top-level definitions, then
   lines for code; a unit still too long is cut into token windows at word starts;
2. units are packed greedily up to the category's size (tokens or characters); a new chunk
   starts with the tail of the previous one (``overlap``) so context crosses the cut;
3. a chunk still above the model limit (articles' 2,000-character chunks, repositories' 1,500-token
   chunks) is split again the same way, down to the model limit, with its own (smaller) overlap;
   a piece lying wholly in the next chunk's overlap is dropped, as that chunk repeats it.

Chunks are slices of the cleaned text (offsets from the tokenizer), so they keep the original
casing, spacing and indentation. The defaults follow the LLM Twin project.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ragdag.features.cleaning import CleanedDocument, Section
from ragdag.features.tokenizer import ModelTokenizer, TokenizedText
from ragdag.models import Category, Chunk

# Bumped whenever a rule below changes how documents are cut: stored features are rebuilt.
CHUNKING_VERSION = "1"

Boundary = Literal["prose", "code"]
SizeUnit = Literal["tokens", "chars"]


@dataclass(frozen=True)
class ChunkingRule:
    boundary: Boundary
    max_size: int  # in ``unit``; capped by the model limit, or split down to it (see module doc)
    unit: SizeUnit = "tokens"
    overlap: int = 0  # in ``unit``; characters overlap by whole sentences or lines only
    min_size: int = 0  # a shorter last chunk joins the previous one when both fit in ``max_size``
    split_overlap_tokens: int = 25  # overlap of the pieces when a chunk is split to the model limit


CHUNKING_RULES: Mapping[Category, ChunkingRule] = {
    Category.POSTS: ChunkingRule("prose", max_size=250, overlap=25),
    Category.ARTICLES: ChunkingRule("prose", max_size=2000, unit="chars", min_size=1000, split_overlap_tokens=50),
    Category.REPOSITORIES: ChunkingRule("code", max_size=1500, overlap=100, split_overlap_tokens=25),
}


@dataclass(frozen=True)
class Span:
    start: int
    end: int


# --- units -------------------------------------------------------------------------------------

# A sentence ends at terminal punctuation (optionally closed by a quote or bracket) followed by
# space, unless the word before is an initial, a short title ("Dr.") or an abbreviation ("e.g.");
# CJK full stops need no space; a line break always ends a unit.
_SENTENCE_BREAK = re.compile(
    r"\n\s*"
    r"|(?<=[.!?…])(?<!\b[A-Z]\.)(?<!\b[A-Z][a-z]\.)(?<!\w\.\w\.)\s+"
    r"|(?<=[.!?…][\"'”’)\]])\s+"
    r"|(?<=[。！？])\s*"
)
# Top-level definitions (column 0) start a new block of code; decorators stay with their definition.
_CODE_BLOCK_START = re.compile(
    r"(?:async\s+def|def|class|function|func|fn|pub|impl|interface|struct|enum|trait|type|export"
    r"|public|private|protected|static|module|package|namespace|template)\b|@\w|#{1,6}\s"
)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def _gaps(text: str, span: Span, breaks: re.Pattern[str]) -> list[Span]:
    units: list[Span] = []
    position = span.start
    for match in breaks.finditer(text, span.start, span.end):
        if (unit := _trimmed(text, position, match.start())) is not None:
            units.append(unit)
        position = max(position, match.end())
    if (unit := _trimmed(text, position, span.end)) is not None:
        units.append(unit)
    return units


def _sentences(text: str, span: Span) -> list[Span]:
    return _gaps(text, span, _SENTENCE_BREAK)


def _line_spans(text: str, span: Span) -> list[Span]:
    """Non-blank lines from their first column (indentation kept) to their last visible character."""
    lines: list[Span] = []
    start = span.start
    while start < span.end:
        newline = text.find("\n", start, span.end)
        end = span.end if newline == -1 else newline
        line = text[start:end]
        if line.strip():
            lines.append(Span(start, start + len(line.rstrip())))
        start = end + 1
    return lines


def _code_blocks(text: str, span: Span) -> list[Span]:
    blocks: list[Span] = []
    current: Span | None = None
    previous_line = ""
    for line in _line_spans(text, span):
        content = text[line.start : line.end]
        starts_block = _CODE_BLOCK_START.match(content) is not None and not previous_line.startswith("@")
        if current is None or starts_block:
            if current is not None:
                blocks.append(current)
            current = line
        else:
            current = Span(current.start, line.end)
        previous_line = content
    if current is not None:
        blocks.append(current)
    return blocks


Splitter = Callable[[str, Span], list[Span]]

LEVELS: Mapping[Boundary, tuple[Splitter, ...]] = {
    "prose": (_sentences,),
    "code": (_code_blocks, _line_spans),
}


# --- measuring and packing ---------------------------------------------------------------------


class _Measure:
    """Sizes of spans of one text, in word pieces (from one tokenizer pass) or characters."""

    def __init__(self, tokenized: TokenizedText) -> None:
        self.t = tokenized

    def tokens(self, start: int, end: int) -> int:
        return bisect_left(self.t.starts, end) - bisect_left(self.t.starts, start)

    def token_windows(self, span: Span, size: int) -> list[Span]:
        """Cut ``span`` into pieces of at most ``size`` tokens, at word starts when a word allows."""
        first, stop = bisect_left(self.t.starts, span.start), bisect_left(self.t.starts, span.end)
        windows: list[Span] = []
        while first < stop:
            cut = min(first + size, stop)
            if cut < stop:
                word_cut = next((i for i in range(cut, first, -1) if self.t.word_starts[i]), None)
                cut = word_cut or cut  # one word longer than the window: cut inside it
            windows.append(Span(self.t.starts[first], self.t.ends[cut - 1]))
            first = cut
        return windows

    def token_tail(self, chunk: Span, size: int) -> int | None:
        """Start of the last ``size`` tokens of ``chunk``, moved forward to a word start."""
        first, stop = bisect_left(self.t.starts, chunk.start), bisect_left(self.t.starts, chunk.end)
        index = max(stop - size, first + 1)  # never the whole chunk
        while index < stop and not self.t.word_starts[index]:
            index += 1
        return self.t.starts[index] if index < stop else None


@dataclass(frozen=True)
class _Packing:
    measure: _Measure
    unit: SizeUnit
    limit: int
    overlap: int

    def size(self, start: int, end: int) -> int:
        return self.measure.tokens(start, end) if self.unit == "tokens" else end - start

    def units(self, text: str, span: Span, levels: tuple[Splitter, ...]) -> list[Span]:
        """Split ``span`` at the first level; recurse into pieces that are still too big."""
        if not levels:
            if self.unit == "chars":
                return [span]  # split later, in tokens, down to the model limit
            # Leave room for the overlap that the next chunk starts with.
            window = self.limit - self.overlap if self.overlap * 2 < self.limit else self.limit
            return self.measure.token_windows(span, window)
        result: list[Span] = []
        for piece in levels[0](text, span):
            if self.size(piece.start, piece.end) <= self.limit:
                result.append(piece)
            else:
                result.extend(self.units(text, piece, levels[1:]))
        return result

    def overlap_start(self, members: list[Span], end: int) -> int | None:
        if self.overlap <= 0:
            return None
        start = None
        for member in reversed(members[1:]):  # never the whole chunk again
            if self.size(member.start, end) > self.overlap:
                break
            start = member.start
        if start is None and self.unit == "tokens":
            start = self.measure.token_tail(Span(members[0].start, end), self.overlap)
        return start

    def pack(self, units: list[Span]) -> list[Span]:
        chunks: list[Span] = []
        members: list[Span] = []  # the units of the chunk being filled
        for unit in units:
            if members and self.size(members[0].start, unit.end) <= self.limit:
                members.append(unit)
                continue
            if members:
                end = members[-1].end
                chunks.append(Span(members[0].start, end))
                start = self.overlap_start(members, end)
                if start is not None and self.size(start, unit.end) <= self.limit:
                    members = [Span(start, end), unit]  # the overlap counts as one unit
                    continue
            members = [unit]
        if members:
            chunks.append(Span(members[0].start, members[-1].end))
        return chunks


def _join_short_tail(chunks: list[Span], packing: _Packing, min_size: int) -> list[Span]:
    if len(chunks) < 2 or packing.size(chunks[-1].start, chunks[-1].end) >= min_size:
        return chunks
    merged = Span(chunks[-2].start, chunks[-1].end)
    if packing.size(merged.start, merged.end) <= packing.limit:
        return [*chunks[:-2], merged]
    return chunks


# --- sections and documents --------------------------------------------------------------------


def _section_spans(text: str, rule: ChunkingRule, tokenizer: ModelTokenizer, budget: int) -> list[Span]:
    measure = _Measure(tokenizer.tokenize(text))
    levels = LEVELS[rule.boundary]
    whole = _trimmed(text, 0, len(text)) if rule.boundary == "prose" else Span(0, len(text))
    if whole is None:
        return []
    first = _Packing(measure, rule.unit, rule.max_size, min(rule.overlap, rule.max_size // 2))
    spans = _join_short_tail(first.pack(first.units(text, whole, levels)), first, rule.min_size)
    # Down to the model limit: only chunks that do not fit yet are split again.
    second = _Packing(measure, "tokens", budget, min(rule.split_overlap_tokens, budget // 2))
    fitted: list[Span] = []
    for index, span in enumerate(spans):
        if measure.tokens(span.start, span.end) <= budget:
            fitted.append(span)
            continue
        pieces = second.pack(second.units(text, span, levels))
        if index + 1 < len(spans):
            # A piece inside the next chunk's overlap would repeat what that chunk starts with.
            pieces = [p for p in pieces if p.start < spans[index + 1].start]
        fitted.extend(pieces)
    return fitted


def _section_texts(section: Section, rule: ChunkingRule, tokenizer: ModelTokenizer) -> list[str]:
    prefix = f"{section.heading}\n" if section.heading else ""
    budget = tokenizer.max_content_tokens
    if prefix:
        heading_tokens = tokenizer.count_with_special([section.heading or ""])[0] - tokenizer.special_tokens
        if heading_tokens * 2 < budget:  # a path as long as the chunk would leave no room: drop it
            budget -= heading_tokens
        else:
            prefix = ""
    return [prefix + section.body[s.start : s.end] for s in _section_spans(section.body, rule, tokenizer, budget)]


def _fit(texts: list[str], tokenizer: ModelTokenizer) -> list[tuple[str, int]]:
    """Check every chunk with the tokenizer itself; re-split the rare one that re-tokenizes longer.

    Packing adds up per-word token counts, which is exact for BERT-style word pieces; this guard
    keeps the limit a guarantee for any tokenizer.
    """
    fitted: list[tuple[str, int]] = []
    for text, count in zip(texts, tokenizer.count_with_special(texts), strict=True):
        if count <= tokenizer.max_seq_length:
            fitted.append((text, count))
            continue
        measure = _Measure(tokenizer.tokenize(text))
        smaller = tokenizer.max_content_tokens - (count - tokenizer.max_seq_length) - 1
        pieces = measure.token_windows(Span(0, len(text)), max(smaller, 1))
        fitted.extend(_fit([text[p.start : p.end] for p in pieces], tokenizer))
    return fitted


def chunk_texts(
    cleaned: CleanedDocument,
    category: Category,
    tokenizer: ModelTokenizer,
    rules: Mapping[Category, ChunkingRule] = CHUNKING_RULES,
) -> list[tuple[str, int]]:
    """The chunk texts of a cleaned document and their model input lengths (special tokens included)."""
    rule = rules[category]
    texts = [t for section in cleaned.sections for t in _section_texts(section, rule, tokenizer)]
    return _fit([t for t in texts if t.strip()], tokenizer)


def chunk_document(
    cleaned: CleanedDocument,
    category: Category,
    tokenizer: ModelTokenizer,
    document_id: str,
    rules: Mapping[Category, ChunkingRule] = CHUNKING_RULES,
) -> list[Chunk]:
    return [
        Chunk(document_id=document_id, chunk_index=index, text=text, token_count=count)
        for index, (text, count) in enumerate(chunk_texts(cleaned, category, tokenizer, rules))
    ]


def chunking_fingerprint(rules: Mapping[Category, ChunkingRule] = CHUNKING_RULES) -> str:
    """Changes when the rules change, so the pipeline knows stored chunks are out of date."""
    return f"{CHUNKING_VERSION}:" + ";".join(f"{c.value}={rules[c]!r}" for c in sorted(rules))
