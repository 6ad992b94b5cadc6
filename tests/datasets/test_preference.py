"""Preference pairs: the author's text over the base model's own answer (pure functions), and the base
model's answers themselves, written by the packaged SmolLM2 through llama.cpp and cached."""

from __future__ import annotations

import pytest

from ragdag.datasets.preference import length_bias, preference_pairs
from ragdag.datasets.records import GeneratedSample, SftSample


def _item(doc: str, text: str, instruction: str | None = None) -> GeneratedSample:
    sample = SftSample(
        instruction=instruction or f"Write about {text.split()[0]}.",
        output=text,
        document_id=doc,
        author_full_name="A",
        category="articles",
        extract_id=f"{doc}:0",
        instruction_kind="lead",
        generator="offline",
    )
    return GeneratedSample(sample=sample, chosen=text)


def test_chosen_is_the_authors_text_and_rejected_the_base_models_answer() -> None:
    items = [_item("a", "Feature stores keep embeddings fresh."), _item("b", "Retries need idempotent tasks.")]
    pairs = preference_pairs(items, ["A model's answer.", "Another model answer."], "smollm2@abc")
    assert [(p.chosen, p.rejected, p.rejected_by) for p in pairs] == [
        ("Feature stores keep embeddings fresh.", "A model's answer.", "smollm2@abc"),
        ("Retries need idempotent tasks.", "Another model answer.", "smollm2@abc"),
    ]
    assert pairs[0].prompt == items[0].sample.instruction and pairs[1].document_id == "b"


def test_a_pair_without_a_rejected_answer_or_with_the_same_text_is_left_out() -> None:
    items = [_item("a", "Same words here."), _item("b", "Other words."), _item("c", "Third text.")]
    pairs = preference_pairs(items, ["Same   words\nhere.", "", "A real answer."], "m")
    assert [p.document_id for p in pairs] == ["c"]


def test_the_length_bias_is_measured() -> None:
    pairs = preference_pairs([_item("a", "x" * 300), _item("b", "y" * 100)], ["z" * 100, "w" * 100], "m")
    assert length_bias(pairs) == {"chosen_mean_chars": 200.0, "rejected_mean_chars": 100.0, "chosen_to_rejected": 2.0}
    assert length_bias([]) == {}


@pytest.mark.slow  # runs the packaged SmolLM2 in llama.cpp
def test_the_base_model_answers_each_instruction_within_its_budget_and_from_the_cache_again(settings) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (requirements.txt) is not installed")
    from ragdag.datasets.base_answers import base_answers
    from ragdag.datasets.generation_cache import GenerationCache
    from ragdag.stores.object_store import open_object_store

    prompts = [
        "Explain in two sentences why a data pipeline should be idempotent.",
        "Write a short paragraph about retrieval-augmented generation.",
    ]
    chosen = ["An idempotent task can run twice and leave the same state. " * 2, "RAG retrieves, then answers."]
    cache = GenerationCache(open_object_store(settings))
    first = base_answers(settings, cache, prompts, chosen)
    assert first.engine == "llama.cpp" and first.model.startswith("smollm2-135m-instruct@")
    assert first.generated == 2 and all(len(a.split()) >= 3 for a in first.answers), first.answers
    assert all(sum(c.isascii() for c in a) >= 0.95 * len(a) for a in first.answers), "English text"
    # The short chosen answer (7 tokens) gets the minimum budget (16 tokens): a short rejected answer too.
    assert len(first.answers[1].split()) <= 24

    again = base_answers(settings, GenerationCache(open_object_store(settings)), prompts, chosen)
    assert again.answers == first.answers and again.generated == 0 and again.cache_hits == 2
