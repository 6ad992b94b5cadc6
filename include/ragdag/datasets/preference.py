"""Preference pairs (DPO) from the generated samples of one split: TRL's prompt / chosen / rejected.

``chosen`` is always the author's own text. ``rejected`` is, with the ``llm`` generator, the model's
own answer to the instruction; offline (no model), a weaker answer made without one: the text of
the most similar extract of *another* document of the same split (on topic, but not the answer
asked for), or, when the split holds a single document, the first sentences of the author's answer
cut to a third of its length (an incomplete answer). Pure functions; deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragdag.datasets.records import GeneratedSample, PreferencePair

_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(w.casefold() for w in _WORD.findall(text) if len(w) > 3)


def most_similar_other(items: Sequence[GeneratedSample], block: int = 256) -> list[int | None]:
    """For each item, the index of the item of another document, same category, whose text has the
    highest word-set Jaccard similarity with its own (lowest index on ties); None when none qualifies.

    Exact integer overlaps from a sparse 0/1 matrix product, a block of rows at a time: the same
    answer as comparing every pair, without the quadratic Python loop (bench/instruct_dataset.py).
    """
    import numpy as np
    from scipy import sparse

    n = len(items)
    if n == 0:
        return []
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for row, item in enumerate(items):
        for word in sorted(_words(item.chosen)):
            rows.append(row)
            cols.append(vocabulary.setdefault(word, len(vocabulary)))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(1, len(vocabulary))))
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    documents = np.unique([i.sample.document_id for i in items], return_inverse=True)[1]
    categories = np.unique([str(i.sample.category) for i in items], return_inverse=True)[1]
    best: list[int | None] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        overlap = (matrix[start:stop] @ matrix.T).toarray()
        union = sizes[start:stop, None] + sizes[None, :] - overlap
        score = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        allowed = (documents[start:stop, None] != documents[None, :]) & (
            categories[start:stop, None] == categories[None, :]
        )
        score[~allowed] = -1.0
        for offset, index in enumerate(score.argmax(axis=1)):
            best.append(int(index) if score[offset, index] >= 0 else None)
    return best


def truncated(text: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    cut, size = [], 0
    for sentence in sentences:
        if cut and size + len(sentence) > len(text) / 3:
            break
        cut.append(sentence)
        size += len(sentence) + 1
    short = " ".join(cut)
    return short if len(short) < len(text) else text[: max(1, len(text) // 3)]


def preference_pairs(items: Sequence[GeneratedSample]) -> list[PreferencePair]:
    needs_other = any(not item.model_answer for item in items)
    others = most_similar_other(items) if needs_other else [None] * len(items)
    pairs: list[PreferencePair] = []
    for item, other in zip(items, others, strict=True):
        sample = item.sample
        if item.model_answer:
            rejected, rejected_by = item.model_answer, "llm"
        elif other is not None:
            rejected, rejected_by = items[other].chosen, "other_extract"
        else:
            rejected, rejected_by = truncated(item.chosen), "truncated"
        if " ".join(rejected.split()) == " ".join(item.chosen.split()):
            continue
        pairs.append(
            PreferencePair(
                prompt=sample.instruction,
                chosen=item.chosen,
                rejected=rejected,
                document_id=sample.document_id,
                category=sample.category,
                author_full_name=sample.author_full_name,
                extract_id=sample.extract_id,
                source=sample.source,
                rejected_by=rejected_by,
            )
        )
    return pairs
