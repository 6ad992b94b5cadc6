"""Property tests of the chunker on random texts: nothing lost, in order, every chunk within the limit.

Only the model's tokenizer is loaded (no torch), so these run in the default suite; hypothesis is
bounded (`max_examples`, no deadline) to keep each test within seconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from ragdag.features.chunking import CHUNKING_RULES, ChunkingRule, chunk_texts
from ragdag.features.cleaning import CleanedDocument, Section
from ragdag.features.embedding import resolve_model_location
from ragdag.features.tokenizer import ModelTokenizer
from ragdag.models import Category
from ragdag.settings import Settings

# Small enough that short random texts are cut many times, at every level of the splitter.
STRESS_LIMIT = 24


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(resolve_model_location(Settings().embedding_model_id))


@pytest.fixture(scope="module")
def model_tokenizer(model_dir: Path) -> ModelTokenizer:
    return ModelTokenizer.from_model_dir(model_dir)


@pytest.fixture(scope="module")
def stress_tokenizer(model_dir: Path) -> ModelTokenizer:
    return ModelTokenizer(Tokenizer.from_file(str(model_dir / "tokenizer.json")), STRESS_LIMIT)


class Reference:
    """An independent count of the model input: the tokenizer file itself, truncation off."""

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def model_length(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    @cache  # noqa: B019 - one instance per module
    def is_invisible(self, char: str) -> bool:
        """Whitespace, or a character the model never sees (zero-width space, soft hyphen)."""
        return char.isspace() or not self._tokenizer.encode(char, add_special_tokens=False).ids

    def __repr__(self) -> str:  # hypothesis prints fixtures of a failing example
        return "Reference()"


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> Reference:
    return Reference(model_dir)


_WORD = st.text(
    alphabet=st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list("éüßøçñ日本語中文한국어العربيةпривет")
        + list(".,;:!?…\"'()[]{}-_/+=#@&%$*~`<>|\\")
        + ["😀", "👍", "\U0001f3fd", "\u200b", "\u00ad", "\t"]
    ),
    min_size=1,
    max_size=40,
)
_SEPARATOR = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", "  ", "。", "\n    ", ""])
_TEXT = st.lists(st.tuples(_WORD, _SEPARATOR), min_size=1, max_size=120).map(
    lambda parts: "".join(word + separator for word, separator in parts)
)


def assert_covered_in_order(text: str, chunks: list[str], reference: Reference) -> None:
    """Chunks are slices of `text`, each starting after the previous one's start and no later
    than the first character not covered yet; together they cover every character the model
    sees (a cut may drop whitespace and zero-width characters between chunks).

    A chunk may occur several times in a repetitive text, so every placement is tried (depth
    first, memoised), not only the first or the last one found."""

    def next_uncovered(covered: int) -> int:
        while covered < len(text) and reference.is_invisible(text[covered]):
            covered += 1
        return covered

    @cache
    def placeable(index: int, previous_start: int, covered: int) -> bool:
        if index == len(chunks):
            return all(reference.is_invisible(char) for char in text[covered:])
        chunk, limit = chunks[index], next_uncovered(covered)
        start = text.find(chunk, previous_start + 1)
        while 0 <= start <= limit:
            if placeable(index + 1, start, max(covered, start + len(chunk))):
                return True
            start = text.find(chunk, start + 1)
        return False

    assert placeable(0, -1, 0), f"text lost: no in-order placement of {len(chunks)} chunks covers the text"


def assert_chunks_fit(text: str, category: Category, tokenizer: ModelTokenizer, reference: Reference, rules) -> None:
    chunks = chunk_texts(CleanedDocument((Section(text),)), category, tokenizer, rules)
    for chunk, count in chunks:
        assert count == reference.model_length(chunk), "the count is the model input length"
        assert count <= tokenizer.max_seq_length
        assert chunk.strip()
    assert_covered_in_order(text, [chunk for chunk, _ in chunks], reference)


_QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_QUICK
@given(text=_TEXT, category=st.sampled_from(list(Category)))
def test_random_texts_with_the_real_rules(text, category, model_tokenizer, reference) -> None:
    assert_chunks_fit(text, category, model_tokenizer, reference, CHUNKING_RULES)


@_QUICK
@given(
    text=_TEXT,
    boundary=st.sampled_from(["prose", "code"]),
    unit=st.sampled_from(["tokens", "chars"]),
    max_size=st.integers(4, 60),
    overlap=st.integers(0, 12),
)
def test_random_texts_cut_small(text, boundary, unit, max_size, overlap, stress_tokenizer, reference) -> None:
    rule = ChunkingRule(boundary, max_size=max_size, unit=unit, overlap=overlap, split_overlap_tokens=4)
    rules = {category: rule for category in Category}
    assert_chunks_fit(text, Category.POSTS, stress_tokenizer, reference, rules)
