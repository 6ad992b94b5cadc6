"""Token-aware chunking of cleaned documents: one interface, per-category rules, no truncation.

Every chunk fits the embedding model's input (``max_seq_length`` word pieces *including* [CLS] and
[SEP]), measured with the model's own tokenizer, so nothing is cut off silently at encode time.

How a section is cut:
1. it is split into units at natural boundaries — sentences for prose; for code, statements (with
   their decorators and the comments just above them), found with ``ast`` for Python: top-level
   definitions first, then the members of a definition still too long (the methods of a big
   class), then lines; top-level definitions then lines for other code; a unit still too long is
   cut into token windows at word starts;
2. units are packed greedily up to the category's size (tokens or characters); a new chunk
   starts with the tail of the previous one (``overlap``: whole sentences, whole lines of code)
   so context crosses the cut;
3. a chunk still above the model limit (articles' 2,000-character chunks, repositories' 1,500-token
   chunks) is split again the same way, down to the model limit, with its own (smaller) overlap;
   a piece lying wholly in the next chunk's overlap is dropped, as that chunk repeats it.

Chunks are slices of the cleaned text (offsets from the tokenizer), so they keep the original
casing, spacing and indentation. Code units tile the file (blank lines included) and start at line
starts, so a file's chunks, less the lines each repeats from the one before, are the file itself:
the dataset stage rebuilds verbatim code from them. The defaults follow the LLM Twin project.
"""

from __future__ import annotations

import ast
import re
import textwrap
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ragdag.features.cleaning import CleanedDocument, Section
from ragdag.features.tokenizer import ModelTokenizer, TokenizedText
from ragdag.models import Category, Chunk

# Bumped whenever a rule below changes how documents are cut: stored features are rebuilt.
# 2: code is cut at statements (ast for Python) and whole lines, its chunks tile the file.
CHUNKING_VERSION = "2"

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
    """Every line of ``span`` from its first column to the start of the next line: they tile it."""
    return _cut_at(text, span, _line_starts(text, span))


def _line_starts(text: str, span: Span) -> list[int]:
    starts = [span.start]
    position = text.find("\n", span.start, span.end)
    while position != -1 and position + 1 < span.end:
        starts.append(position + 1)
        position = text.find("\n", position + 1, span.end)
    return starts


def _cut_at(text: str, span: Span, cuts: list[int]) -> list[Span]:
    """``span`` cut at the offsets ``cuts``; blank pieces join the piece before (or after) them."""
    bounds = sorted({span.start, *(c for c in cuts if span.start < c < span.end), span.end})
    pieces: list[Span] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        if pieces and not text[start:end].strip():
            pieces[-1] = Span(pieces[-1].start, end)
        elif pieces and not text[pieces[-1].start : pieces[-1].end].strip():
            pieces[-1] = Span(pieces[-1].start, end)
        else:
            pieces.append(Span(start, end))
    return pieces


def _code_blocks(text: str, span: Span) -> list[Span]:
    """Cut before each line that starts a top-level definition (a decorator keeps its definition)."""
    cuts: list[int] = []
    previous_line = ""
    for start in _line_starts(text, span):
        newline = text.find("\n", start, span.end)
        content = text[start : span.end if newline == -1 else newline]
        if _CODE_BLOCK_START.match(content) is not None and not previous_line.startswith("@"):
            cuts.append(start)
        if content.strip():
            previous_line = content
    return _cut_at(text, span, cuts)


def _statement_first_line(node: ast.stmt, lines: list[str]) -> int:
    """0-based first line of a statement: its decorators and the comment lines right above it."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return first


def _python_statements(text: str, span: Span) -> list[Span]:
    """Cut at the statements of a module or, for one compound statement (a class, a function), at
    the statements of its body; the span as it is when it does not parse on its own."""
    segment = text[span.start : span.end]
    try:
        body = ast.parse(textwrap.dedent(segment)).body
    except (SyntaxError, ValueError):
        return [span]
    if len(body) == 1 and isinstance(body[0], _COMPOUND):
        body = body[0].body[1:]  # the header stays with the first statement of its body
    if not body:
        return [span]
    lines = segment.split("\n")
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    return _cut_at(text, span, [span.start + offsets[_statement_first_line(node, lines)] for node in body])


_COMPOUND = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


Splitter = Callable[[str, Span], list[Span]]

LEVELS: Mapping[Boundary, tuple[Splitter, ...]] = {
    "prose": (_sentences,),
    "code": (_code_blocks, _line_spans),
}
# Python files: module statements, then a definition's members, then theirs, then lines.
PYTHON_LEVELS: tuple[Splitter, ...] = (_python_statements, _python_statements, _python_statements, _line_spans)
PYTHON_SUFFIXES = (".py", ".pyi")


def _levels(rule: ChunkingRule, path: str | None) -> tuple[Splitter, ...]:
    if rule.boundary == "code" and path is not None and path.endswith(PYTHON_SUFFIXES):
        return PYTHON_LEVELS
    return LEVELS[rule.boundary]


def code_pieces(text: str, path: str | None, max_chars: int) -> list[tuple[int, int, int]]:
    """(start, end, parent) of a file's code cut as the chunker cuts it, in characters: top-level
    statements, and the members of one still above ``max_chars`` (a big class's methods), down to
    lines; ``parent`` is the start of the piece a piece was cut from (-1 for top-level pieces).
    The pieces tile ``text`` and start at line starts (a line longer than ``max_chars`` is one
    piece)."""
    levels = _levels(CHUNKING_RULES[Category.REPOSITORIES], path)

    def split(span: Span, levels: tuple[Splitter, ...], parent: int) -> list[tuple[int, int, int]]:
        pieces: list[tuple[int, int, int]] = []
        for piece in levels[0](text, span):
            if piece.end - piece.start <= max_chars or len(levels) == 1:
                pieces.append((piece.start, piece.end, parent))
            else:
                pieces.extend(split(piece, levels[1:], piece.start))
        return pieces

    return split(Span(0, len(text)), levels, -1) if text else []


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
    line_starts: list[int] | None = None  # code: overlaps and token windows keep whole lines

    def size(self, start: int, end: int) -> int:
        return self.measure.tokens(start, end) if self.unit == "tokens" else end - start

    def units(self, text: str, span: Span, levels: tuple[Splitter, ...]) -> list[Span]:
        """Split ``span`` at the first level; recurse into pieces that are still too big."""
        if not levels:
            if self.unit == "chars":
                return [span]  # split later, in tokens, down to the model limit
            # Leave room for the overlap that the next chunk starts with.
            window = self.limit - self.overlap if self.overlap * 2 < self.limit else self.limit
            windows = self.measure.token_windows(span, window)
            if self.line_starts is not None and windows:
                # A line too long for one chunk: its indentation and line end stay with it.
                windows[0] = Span(span.start, windows[0].end)
                windows[-1] = Span(windows[-1].start, span.end)
            return windows
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
        if start is None and self.line_starts is not None:
            start = self.line_tail(Span(members[0].start, end))
        elif start is None and self.unit == "tokens":
            start = self.measure.token_tail(Span(members[0].start, end), self.overlap)
        return start

    def line_tail(self, chunk: Span) -> int | None:
        """Start of the longest run of whole last lines of ``chunk`` within the overlap."""
        assert self.line_starts is not None
        first, stop = bisect_right(self.line_starts, chunk.start), bisect_left(self.line_starts, chunk.end)
        for start in self.line_starts[first:stop]:
            if self.size(start, chunk.end) <= self.overlap:
                return start
        return None

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


def _section_spans(
    text: str, rule: ChunkingRule, tokenizer: ModelTokenizer, budget: int, path: str | None = None
) -> list[Span]:
    measure = _Measure(tokenizer.tokenize(text))
    levels = _levels(rule, path)
    whole = _trimmed(text, 0, len(text)) if rule.boundary == "prose" else Span(0, len(text))
    if whole is None:
        return []
    lines = _line_starts(text, whole) if rule.boundary == "code" else None
    first = _Packing(measure, rule.unit, rule.max_size, min(rule.overlap, rule.max_size // 2), lines)
    spans = _join_short_tail(first.pack(first.units(text, whole, levels)), first, rule.min_size)
    # Down to the model limit: only chunks that do not fit yet are split again.
    second = _Packing(measure, "tokens", budget, min(rule.split_overlap_tokens, budget // 2), lines)
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
    spans = _section_spans(section.body, rule, tokenizer, budget, section.heading)
    return [prefix + section.body[s.start : s.end] for s in spans]


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
