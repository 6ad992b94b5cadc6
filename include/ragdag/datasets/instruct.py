"""Split instruct samples by document, by a stable hash of the document id; then decontaminate.

Pure functions. Every sample of a document lands on the same side, and a document is in the test
split exactly when the hash of its id, read as a number in [0, 1), is below ``test_share``: the
assignment depends on nothing else (no seed, no other document, no corpus size), so a test
document stays in test in every later version and a train document never moves to test. The
model in production and a candidate trained on a later version are then never scored on text
either was trained on. Only changing ``test_share`` moves documents (raising it moves some train
documents to test, never the reverse).

The price of a stable split: the test share of a small corpus is whatever the hashes give, so
the quality gate checks a minimum test size (``RAGDAG_DATASET_MIN_TEST_SAMPLES``) instead of
forcing a document into test.

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


def document_rank(document_id: str) -> float:
    """A stable pseudo-random number in [0, 1) per document id."""
    digest = hashlib.sha256(f"split:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_test_document(document_id: str, test_share: float) -> bool:
    return document_rank(document_id) < test_share


def held_out_documents(samples: Iterable[InstructSample], test_share: float) -> set[str]:
    """The documents whose samples form the test split."""
    return {s.document_id for s in samples if is_test_document(s.document_id, test_share)}


def split_samples(samples: Sequence[S], test_share: float) -> tuple[list[S], list[S]]:
    """(train, test), each in the input order."""
    held_out = held_out_documents(samples, test_share)
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
