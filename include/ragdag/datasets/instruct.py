"""Turn embedded chunks into instruct samples and split them without leakage (pure functions)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from ragdag.models import Category, InstructSample

_KIND = {
    Category.ARTICLES: "an article section",
    Category.POSTS: "a social media post",
    Category.REPOSITORIES: "a code walkthrough",
}


def first_sentence(text: str, limit: int = 120) -> str:
    head = text.strip().split("\n", 1)[0]
    for stop in (". ", "? ", "! "):
        if stop in head:
            head = head.split(stop, 1)[0]
    return head[:limit].strip()


def sample_from_chunk(chunk: Mapping, title: str | None) -> InstructSample:
    """An instruction that asks for the chunk, in the author's voice, about the document's topic."""
    category = Category(chunk["category"])
    topic = title or first_sentence(chunk["text"])
    return InstructSample(
        instruction=f"Write {_KIND[category]} in the style of {chunk['author_full_name']} about: {topic}",
        output=chunk["text"],
        document_id=chunk["document_id"],
        author_full_name=chunk["author_full_name"],
        category=category,
    )


def in_test_split(document_id: str, test_share: float, seed: int) -> bool:
    """Split by document, stably: all chunks of a document land on the same side, every run."""
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_share


def split_samples(
    samples: Iterable[InstructSample], test_share: float, seed: int
) -> tuple[list[InstructSample], list[InstructSample]]:
    train, test = [], []
    for sample in samples:
        (test if in_test_split(sample.document_id, test_share, seed) else train).append(sample)
    if not test and len(train) > 1:
        # Tiny corpora: keep at least one held-out document so test metrics exist.
        last_doc = train[-1].document_id
        test = [s for s in train if s.document_id == last_doc]
        train = [s for s in train if s.document_id != last_doc]
    return train, test
