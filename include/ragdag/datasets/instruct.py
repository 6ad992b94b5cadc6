"""Split instruct samples by document, stratified by category, seeded; then decontaminate.

Pure functions. Every sample of a document lands on the same side, so a model is never tested on
a document it was trained on; within each category the documents are ordered by a seeded hash and
the first ``round(share * n)`` go to the test split (at least one when the category has two or
more documents, and at least one overall when there are two documents at all).

Decontamination then drops every test sample whose answer shares a word n-gram (13 words by
default) with any train answer: the same text crawled under two URLs is two documents, which the
split alone would happily put on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeVar

from ragdag.models import InstructSample

S = TypeVar("S", bound=InstructSample)


def document_rank(document_id: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) per document and seed."""
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out_documents(samples: Iterable[InstructSample], test_share: float, seed: int) -> set[str]:
    """The documents whose samples form the test split."""
    by_category: dict[str, set[str]] = {}
    for sample in samples:
        by_category.setdefault(str(sample.category), set()).add(sample.document_id)
    chosen: set[str] = set()
    for category in sorted(by_category):
        ranked = sorted(by_category[category], key=lambda doc: (document_rank(doc, seed), doc))
        count = round(test_share * len(ranked))
        if test_share > 0 and count == 0 and len(ranked) >= 2:
            count = 1
        chosen.update(ranked[:count])
    everything = (
        sorted(set().union(*by_category.values()), key=lambda doc: (document_rank(doc, seed), doc))
        if by_category
        else []
    )
    if not chosen and len(everything) >= 2:
        # Tiny corpora: keep one held-out document so that test metrics exist.
        chosen.add(everything[0])
    return chosen


def split_samples(samples: Sequence[S], test_share: float, seed: int) -> tuple[list[S], list[S]]:
    """(train, test), each in the input order."""
    held_out = held_out_documents(samples, test_share, seed)
    train = [s for s in samples if s.document_id not in held_out]
    test = [s for s in samples if s.document_id in held_out]
    return train, test


def _ngrams(text: str, n: int) -> set[int]:
    words = text.casefold().split()
    return {
        int.from_bytes(hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).digest(), "big")
        for i in range(len(words) - n + 1)
    }


def decontaminate(train: Sequence[InstructSample], test: Sequence[S], n: int) -> tuple[list[S], list[S]]:
    """(kept, dropped) test samples: dropped ones share a word ``n``-gram with a train answer."""
    seen: set[int] = set()
    for sample in train:
        seen |= _ngrams(sample.output, n)
    kept: list[S] = []
    dropped: list[S] = []
    for sample in test:
        (dropped if _ngrams(sample.output, n) & seen else kept).append(sample)
    return kept, dropped
