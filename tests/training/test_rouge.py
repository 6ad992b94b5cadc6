"""ROUGE-L as Lin (2004) defines it: LCS-based F-measure over words."""

from __future__ import annotations

import pytest

from ragdag.training.rouge import lcs_length, rouge_l, rouge_tokens


def test_tokens_are_lowercased_words() -> None:
    assert rouge_tokens("The Feature-Store, v2!") == ["the", "feature", "store", "v2"]


def test_lcs_is_a_subsequence_not_a_substring() -> None:
    assert lcs_length("a b c d e".split(), "a x c y e".split()) == 3
    assert lcs_length([], ["a"]) == 0


def test_known_values() -> None:
    # reference 6 words, candidate 5; LCS "the cat on the mat" = 5 -> P=1, R=5/6, F=10/11
    assert rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    assert rouge_l("same words here", "same words here") == 1.0
    assert rouge_l("nothing shared", "entirely different") == 0.0
    assert rouge_l("", "reference") == 0.0


def test_order_matters() -> None:
    assert rouge_l("mat the on sat cat the", "the cat sat on the mat") < rouge_l(
        "the cat sat on mat", "the cat sat on the mat"
    )
