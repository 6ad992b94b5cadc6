"""Preference pairs (DPO) from the generated samples of one split: TRL's prompt / chosen / rejected.

``chosen`` is always the author's own text for the instruction; ``rejected`` is the base model's
own answer to the same instruction (:mod:`ragdag.datasets.base_answers`), so that DPO prefers the
author's voice over the model's: the standard twin recipe. A pair whose rejected side is empty or
says the same as the chosen one teaches nothing and is left out. Pure functions; deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

from ragdag.datasets.records import GeneratedSample, PreferencePair


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def preference_pairs(
    items: Sequence[GeneratedSample], rejected: Sequence[str], rejected_by: str
) -> list[PreferencePair]:
    """One pair per item whose ``rejected`` answer (same order) is non-empty and differs from chosen."""
    pairs: list[PreferencePair] = []
    for item, answer in zip(items, rejected, strict=True):
        sample = item.sample
        if not answer.strip() or _same(answer, item.chosen):
            continue
        pairs.append(
            PreferencePair(
                prompt=sample.instruction,
                chosen=item.chosen,
                rejected=answer.strip(),
                document_id=sample.document_id,
                category=sample.category,
                author_full_name=sample.author_full_name,
                extract_id=sample.extract_id,
                source=sample.source,
                rejected_by=rejected_by,
            )
        )
    return pairs


def length_bias(pairs: Sequence[PreferencePair]) -> dict[str, float]:
    """Mean characters of the chosen and rejected sides and their ratio (1.0: length-matched)."""
    if not pairs:
        return {}
    chosen = mean(len(p.chosen) for p in pairs)
    rejected = mean(len(p.rejected) for p in pairs)
    return {
        "chosen_mean_chars": round(chosen, 1),
        "rejected_mean_chars": round(rejected, 1),
        "chosen_to_rejected": round(chosen / rejected, 3) if rejected else 0.0,
    }
