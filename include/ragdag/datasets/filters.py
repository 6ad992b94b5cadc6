"""Filters applied to the generated samples before they are split and saved (pure functions).

In order, each counting what it kept (``FilterCount``, stored in the manifest):

1. ``pii``: e-mail addresses and phone numbers in answers are masked (``[EMAIL]``, ``[PHONE]``);
   nothing is dropped, the count is of answers changed;
2. ``answer_length``: answers shorter or longer than the bounds (in word tokens) go;
3. ``language``: prose answers whose detected language is not allowed go (code is not checked);
4. ``boilerplate``: answers mostly made of boilerplate lines (cookie, subscribe, copyright, share
   ...) go, and, in articles and posts, answers mostly made of code;
5. ``exact_duplicates``: an answer equal to an earlier one (after normalising case and spaces);
6. ``near_duplicates``: an answer whose estimated Jaccard similarity (MinHash over word 5-grams,
   LSH, seeded) with an earlier kept answer reaches the threshold.

The first of a set of duplicates (in sample order) is kept, so the result does not depend on
anything but the input order, which is sorted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from ragdag.datasets.records import GeneratedSample
from ragdag.models import Category

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
# International or national numbers with separators: +44 20 7946 0958, (555) 123-4567, 555-123-4567.
_PHONE = re.compile(
    r"(?<![\w/.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w/]|[.-]\d)"
)
_WORD = re.compile(r"\w+|[^\w\s]")
_BOILERPLATE = re.compile(
    r"cookie|subscribe|newsletter|sign up|sign in|log in|all rights reserved|copyright|©|privacy policy"
    r"|terms of (?:use|service)|share (?:this|on)|follow us|read more|click here|advertisement|related posts"
    r"|leave a (?:comment|reply)|posted in|tags?:",
    re.IGNORECASE,
)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|if .*:$|for .*:$|[{}\[\]();]+$)"
    r"|[;{}]\s*$|^\s*(?://|#include|<\w+[^>]*>$)|\w+\s*=\s*[\w\"'(\[{]"
)
BOILERPLATE_MAX_WORDS = 12
PROSE = frozenset({Category.ARTICLES, Category.POSTS})
SHINGLE_WORDS = 5
NUM_PERM = 128
MINHASH_SEED = 1


class FilterCount(BaseModel):
    name: str
    before: int
    after: int
    changed: int = 0  # samples modified but kept (masking)


@dataclass(frozen=True)
class FilterConfig:
    min_answer_tokens: int
    max_answer_tokens: int
    allowed_languages: tuple[str, ...]
    max_boilerplate_share: float
    near_duplicate_threshold: float


def count_tokens(text: str) -> int:
    """Word tokens (words and punctuation marks): a tokenizer-free measure of length."""
    return len(_WORD.findall(text))


def mask_pii(text: str) -> tuple[str, int]:
    """``text`` with e-mail addresses and phone numbers masked; how many were masked."""
    text, emails = _EMAIL.subn("[EMAIL]", text)
    phones = 0

    def phone_or_keep(match: re.Match[str]) -> str:
        nonlocal phones
        found = match.group()
        digits = re.sub(r"\D", "", found)
        # Dates (2021-01-05), versions and ranges are not phones: those have 7-15 digits, no year shape.
        if not 7 <= len(digits) <= 15 or re.fullmatch(r"(?:19|20)\d{2}[-./]\d{1,2}[-./]\d{1,2}", found.strip()):
            return found
        phones += 1
        return "[PHONE]"

    text = _PHONE.sub(phone_or_keep, text)
    return text, emails + phones


def line_share(text: str, pattern: re.Pattern[str], *, max_words: int | None = None) -> float:
    """Share of non-blank lines matching ``pattern`` (only lines of at most ``max_words`` count)."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return 1.0
    hits = sum(1 for line in lines if pattern.search(line) and (max_words is None or len(line.split()) <= max_words))
    return hits / len(lines)


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def _shingles(text: str) -> set[bytes]:
    words = _normalised(text).split()
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


def _minhash(text: str):
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED)
    minhash.update_batch(sorted(_shingles(text)))
    return minhash


def drop_near_duplicates(samples: Sequence[GeneratedSample], threshold: float) -> list[GeneratedSample]:
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    kept: list[GeneratedSample] = []
    for index, item in enumerate(samples):
        minhash = _minhash(item.sample.output)
        if lsh.query(minhash):
            continue
        lsh.insert(str(index), minhash)
        kept.append(item)
    return kept


def _detected_language(text: str) -> str | None:
    from ragdag.crawling.extraction.language import detect_language

    return detect_language(text)


def apply_filters(
    samples: Sequence[GeneratedSample],
    config: FilterConfig,
    *,
    detect_language: Callable[[str], str | None] = _detected_language,
) -> tuple[list[GeneratedSample], list[FilterCount]]:
    """The samples that pass every filter, and the before / after count of each filter."""
    counts: list[FilterCount] = []
    current = list(samples)

    masked: list[GeneratedSample] = []
    changed = 0
    for item in current:
        output, hits = mask_pii(item.sample.output)
        chosen, _ = mask_pii(item.chosen)
        rejected = mask_pii(item.model_answer)[0] if item.model_answer else item.model_answer
        if hits or chosen != item.chosen:
            changed += 1
        masked.append(
            item.model_copy(
                update={
                    "sample": item.sample.model_copy(update={"output": output}),
                    "chosen": chosen,
                    "model_answer": rejected,
                }
            )
        )
    counts.append(FilterCount(name="pii", before=len(current), after=len(masked), changed=changed))
    current = masked

    def keep(name: str, predicate: Callable[[GeneratedSample], bool]) -> None:
        nonlocal current
        before = len(current)
        current = [item for item in current if predicate(item)]
        counts.append(FilterCount(name=name, before=before, after=len(current)))

    keep(
        "answer_length",
        lambda item: config.min_answer_tokens <= count_tokens(item.sample.output) <= config.max_answer_tokens,
    )
    allowed = set(config.allowed_languages)

    def language_ok(item: GeneratedSample) -> bool:
        if item.sample.category not in PROSE:
            return True
        language = detect_language(item.sample.output)
        return language is None or language in allowed

    keep("language", language_ok)

    def not_boilerplate(item: GeneratedSample) -> bool:
        text = item.sample.output
        # Banners and footers are short lines; prose that mentions cookies is not boilerplate.
        if line_share(text, _BOILERPLATE, max_words=BOILERPLATE_MAX_WORDS) > config.max_boilerplate_share:
            return False
        return item.sample.category not in PROSE or line_share(text, _CODE_LINE) <= config.max_boilerplate_share

    keep("boilerplate", not_boilerplate)
    seen: set[str] = set()

    def first_copy(item: GeneratedSample) -> bool:
        digest = hashlib.sha256(_normalised(item.sample.output).encode()).hexdigest()
        if digest in seen:
            return False
        seen.add(digest)
        return True

    keep("exact_duplicates", first_copy)
    before = len(current)
    current = drop_near_duplicates(current, config.near_duplicate_threshold)
    counts.append(FilterCount(name="near_duplicates", before=before, after=len(current)))
    return current, counts
