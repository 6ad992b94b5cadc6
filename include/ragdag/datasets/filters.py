"""Filters applied to the generated samples before they are split and saved (pure functions).

In order, each counting what it kept (``FilterCount``, stored in the manifest):

1. ``pii``: secrets and personal data are masked (:func:`ragdag.text_safety.mask_text`) in the
   instruction, the answer, the chosen and the rejected text; nothing is dropped, ``changed``
   counts the samples changed and ``by_kind`` what was masked (the feature stage masked the chunks
   already: what is left comes from titles, headings and model outputs);
2. ``injection``: samples carrying instruction-injection text (:func:`ragdag.text_safety.find_injection`)
   in any of those texts, or an author that is not a person's name, go (``by_kind``: per pattern);
3. ``answer_length``: answers shorter or longer than the bounds (in word tokens) go;
4. ``language``: prose answers whose detected language is not allowed go (code is not checked);
5. ``boilerplate``: answers mostly made of boilerplate lines (cookie, subscribe, copyright, share
   ...) go, and, in articles and posts, answers mostly made of code;
6. ``exact_duplicates``: an answer equal to an earlier one (after normalising case and spaces);
7. ``near_duplicates``: an answer whose estimated Jaccard similarity (MinHash over word 5-grams,
   LSH, seeded) with an earlier kept answer reaches the threshold.

The first of a set of duplicates (in sample order) is kept, so the result does not depend on
anything but the input order, which is sorted.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from ragdag.datasets.records import GeneratedSample
from ragdag.models import Category
from ragdag.text_safety import add_counts, find_injection, is_person_name, mask_text, sorted_counts

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
    by_kind: dict[str, int] = {}  # pii: what was masked (email, phone, secret:<type>...); injection: per pattern


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


def _texts(item: GeneratedSample) -> list[str]:
    return [
        item.sample.instruction,
        item.sample.output,
        item.chosen,
        *([item.model_answer] if item.model_answer else []),
    ]


def mask_sample(item: GeneratedSample, counts: Counter[str]) -> GeneratedSample:
    """The sample with its instruction, answer, title, chosen and rejected text masked (code rules for
    repositories)."""
    code = item.sample.category == Category.REPOSITORIES

    def masked(text: str) -> str:
        result = mask_text(text, code=code)
        add_counts(counts, result.counts)
        return result.text

    sample = item.sample.model_copy(
        update={
            "instruction": masked(item.sample.instruction),
            "output": masked(item.sample.output),
            "title": masked(item.sample.title) if item.sample.title else item.sample.title,
        }
    )
    model_answer = masked(item.model_answer) if item.model_answer else item.model_answer
    return item.model_copy(update={"sample": sample, "chosen": masked(item.chosen), "model_answer": model_answer})


def injection_in(item: GeneratedSample) -> str | None:
    """Why the sample is hostile text (an injection pattern's name, or ``author_name``), or None."""
    if not is_person_name(item.sample.author_full_name):
        return "author_name"  # it is written into instructions
    for text in _texts(item):
        found = find_injection(text)
        if found:
            return found
    return None


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

    masked_kinds: Counter[str] = Counter()
    masked = [mask_sample(item, masked_kinds) for item in current]
    changed = sum(1 for before, after in zip(current, masked, strict=True) if before != after)
    counts.append(
        FilterCount(
            name="pii", before=len(current), after=len(masked), changed=changed, by_kind=sorted_counts(masked_kinds)
        )
    )
    current = masked

    hostile: Counter[str] = Counter()
    kept_safe = []
    for item in current:
        reason = injection_in(item)
        if reason is None:
            kept_safe.append(item)
        else:
            hostile[reason] += 1
    counts.append(
        FilterCount(name="injection", before=len(current), after=len(kept_safe), by_kind=sorted_counts(hostile))
    )
    current = kept_safe

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
