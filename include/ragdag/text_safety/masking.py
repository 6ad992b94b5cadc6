"""Masking: secrets and personal data in a text replaced by a placeholder that names their type.

Placeholders are ``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[IBAN]``, ``[SSN]`` and
``[SECRET:<TYPE>]`` (``[SECRET:AWS_ACCESS_KEY]``), so masked text still reads, a model trained on it
learns to write a placeholder where a key goes, and the masks in any text can be counted again by
type (:func:`count_masks`) whichever stage masked them. Counts are keyed ``email``, ``phone``,
``card``, ``iban``, ``ssn`` and ``secret:<type>``. Masking masked text changes nothing.

Secrets and e-mail addresses are masked everywhere. Numbers follow :mod:`.pii`'s stricter rules in
code: a whole text with ``code=True`` (a source file), and in prose the lines that look like code
(fenced blocks, assignments, statements, indented lines, shell prompts).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ragdag.text_safety import pii
from ragdag.text_safety.secret_scan import find_secrets

# Bumped whenever a rule changes what a text masks to: the feature stage re-embeds its documents.
MASKING_VERSION = "1"
SECRET_PREFIX = "secret:"  # pragma: allowlist secret (a prefix of kinds; the repo scan flags the name)
_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD|IBAN|SSN|SECRET:[A-Z0-9_]+)\]")
_DIGIT = re.compile(r"\d")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_CODE_LINE = re.compile(
    r"^(?: {4,}|\t)\S"
    r"|[;{}]\s*$"
    r"|^\s*(?:def|class|import|from\s+\S+\s+import|return|const|let|var|function|package|#include|#define"
    r"|SELECT|INSERT|UPDATE|CREATE|export|curl|git|pip|docker)\b"
    r"|^\s*[\w.\[\]\"']+\s*(?:=|:=|\+=|-=|=>)\s*\S"
    r"|^\s*[$>#]\s"
)


@dataclass(frozen=True)
class MaskedText:
    text: str
    counts: Counter[str] = field(default_factory=Counter)  # kind -> how many were masked

    @property
    def secrets(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind.startswith(SECRET_PREFIX))


def placeholder(kind: str) -> str:
    return f"[{kind.upper()}]"


def count_masks(text: str) -> Counter[str]:
    """The placeholders in ``text`` by kind (what was masked in it, by any stage)."""
    return Counter(match.group(1).lower() for match in _PLACEHOLDER.finditer(text))


def add_counts(total: Counter[str], counts: Mapping[str, int]) -> None:
    for kind, count in counts.items():
        total[kind] += count


def sorted_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """JSON-ready and stable: kinds in order, zeros left out."""
    return {kind: counts[kind] for kind in sorted(counts) if counts[kind]}


def _replace(text: str, hits: Iterable[tuple[int, int, str]], counts: Counter[str]) -> str:
    parts: list[str] = []
    last = 0
    for start, end, kind in sorted(hits):
        if start < last:
            continue  # overlaps a hit already masked
        parts += [text[last:start], placeholder(kind)]
        counts[kind] += 1
        last = end
    return "".join([*parts, text[last:]])


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """(piece, is code) in order; the pieces joined are ``text``."""
    fenced = False
    run: list[str] = []
    run_is_code = False
    for line in text.splitlines(keepends=True):
        is_fence = bool(_FENCE.match(line))
        is_code = fenced or is_fence or bool(_CODE_LINE.search(line.rstrip("\n")))
        if is_fence:
            fenced = not fenced
        if run and is_code != run_is_code:
            yield "".join(run), run_is_code
            run = []
        run.append(line)
        run_is_code = is_code
    if run:
        yield "".join(run), run_is_code


def _numbers(text: str, code: bool, counts: Counter[str]) -> str:
    finders: list[Callable[[str], list[pii.PiiHit]]] = [
        pii.find_ibans,
        lambda t: pii.find_cards(t, code=code),
        lambda t: pii.find_ssns(t, code=code),
        lambda t: pii.find_phones(t, code=code),
    ]
    for find in finders:  # one after the other: a card is not found again as a phone
        if _DIGIT.search(text):
            text = _replace(text, ((h.start, h.end, h.kind) for h in find(text)), counts)
    return text


def mask_text(text: str, *, code: bool = False) -> MaskedText:
    """``text`` with its secrets and personal data masked, and what was masked by kind.

    ``code=True`` for a source file; otherwise the text is prose, whose code-looking lines are
    treated as code.
    """
    counts: Counter[str] = Counter()
    if not text:
        return MaskedText(text, counts)
    text = _replace(text, ((h.start, h.end, SECRET_PREFIX + h.kind) for h in find_secrets(text)), counts)
    text = _replace(text, ((h.start, h.end, h.kind) for h in pii.find_emails(text)), counts)
    pieces = [(text, True)] if code else list(_segments(text))
    text = "".join(_numbers(piece, is_code, counts) for piece, is_code in pieces)
    return MaskedText(text, counts)
