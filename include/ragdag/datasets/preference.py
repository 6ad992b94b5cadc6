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


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


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
    words = [_words(item.chosen) for item in items]
    pairs: list[PreferencePair] = []
    for index, item in enumerate(items):
        sample = item.sample
        if item.model_answer:
            rejected, rejected_by = item.model_answer, "llm"
        else:
            candidates = [
                (_jaccard(words[index], words[other]), other.__neg__(), other)
                for other in range(len(items))
                if items[other].sample.document_id != sample.document_id
                and items[other].sample.category == sample.category
            ]
            if candidates:
                rejected, rejected_by = items[max(candidates)[2]].chosen, "other_extract"
            else:
                rejected, rejected_by = truncated(item.chosen), "truncated"
        if " ".join(rejected.split()) == " ".join(item.chosen.split()):
            continue
        pairs.append(PreferencePair(
            prompt=sample.instruction, chosen=item.chosen, rejected=rejected,
            document_id=sample.document_id, category=sample.category,
            author_full_name=sample.author_full_name, extract_id=sample.extract_id,
            source=sample.source, rejected_by=rejected_by,
        ))
    return pairs
