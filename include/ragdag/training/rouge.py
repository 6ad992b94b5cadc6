"""ROUGE-L (Lin, 2004): the F-measure of the longest common subsequence of words. Pure functions."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def rouge_tokens(text: str) -> list[str]:
    """Lower-cased words (letters and digits), as rouge-score's default tokenizer without stemming."""
    return _WORD.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str, beta: float = 1.0) -> float:
    """F_beta of LCS precision (over the candidate) and recall (over the reference); 0 when either is empty."""
    cand, ref = rouge_tokens(candidate), rouge_tokens(reference)
    if not cand or not ref:
        return 0.0
    lcs = lcs_length(cand, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
