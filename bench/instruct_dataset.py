"""Preference pairs' "most similar extract of another document": the sparse product used by the
stage vs comparing every pair in Python (the first implementation), on synthetic extracts of
300 words; both must pick the same partners. Prints seconds and the speed-up; not a test.

    .venv/bin/python bench/instruct_dataset.py
"""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from ragdag.datasets.preference import most_similar_other  # noqa: E402
from ragdag.datasets.records import GeneratedSample, SftSample  # noqa: E402

_WORD = re.compile(r"\w+")


def pairwise(items: list[GeneratedSample]) -> list[int | None]:
    """The baseline: every pair's word-set Jaccard in Python."""
    words = [frozenset(w.casefold() for w in _WORD.findall(i.chosen) if len(w) > 3) for i in items]
    best: list[int | None] = []
    for index, item in enumerate(items):
        scored = [
            (len(words[index] & words[o]) / len(words[index] | words[o]), -o, o)
            for o in range(len(items))
            if items[o].sample.document_id != item.sample.document_id
            and items[o].sample.category == item.sample.category
        ]
        best.append(max(scored)[2] if scored else None)
    return best


def extracts(n: int, seed: int = 0) -> list[GeneratedSample]:
    rng = random.Random(seed)
    vocabulary = [f"word{i}" for i in range(20_000)]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(vocabulary[: 2_000 + (i % 50) * 300]) for _ in range(300))
        sample = SftSample(
            instruction=f"i{i}",
            output=text,
            document_id=f"d{i // 3}",
            author_full_name="A",
            category="articles" if i % 4 else "posts",
            extract_id=f"d{i // 3}:{i % 3}",
            instruction_kind="lead",
            generator="offline",
        )
        out.append(GeneratedSample(sample=sample, chosen=text))
    return out


def main() -> None:
    for n in (250, 1000):
        items = extracts(n)
        started = time.perf_counter()
        baseline = pairwise(items)
        slow = time.perf_counter() - started
        started = time.perf_counter()
        fast = most_similar_other(items)
        quick = time.perf_counter() - started
        assert fast == baseline, "both pick the same partner"
        print(f"{n:6d} extracts: pairwise {slow:7.2f}s, sparse {quick:6.3f}s, {slow / quick:6.0f}x")
    items = extracts(10_000)
    started = time.perf_counter()
    most_similar_other(items)
    print(f"{10_000:6d} extracts: sparse {time.perf_counter() - started:6.2f}s (pairwise not run: quadratic)")


if __name__ == "__main__":
    main()
