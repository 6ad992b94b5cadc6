from __future__ import annotations

from ragdag.datasets.preference import most_similar_other, preference_pairs, truncated
from ragdag.datasets.records import GeneratedSample, SftSample


def _item(doc: str, text: str, category: str = "articles", model_answer: str | None = None) -> GeneratedSample:
    sample = SftSample(
        instruction=f"About {text[:20]}",
        output=text,
        document_id=doc,
        author_full_name="A",
        category=category,
        extract_id=f"{doc}:0",
        instruction_kind="lead",
        generator="offline",
    )
    return GeneratedSample(sample=sample, chosen=text, model_answer=model_answer)


def test_rejected_is_the_most_similar_extract_of_another_document_of_the_same_category() -> None:
    items = [
        _item("a", "feature stores keep embeddings fresh across nightly batches"),
        _item("a", "feature stores keep embeddings fresh and nightly batches consistent"),  # same document
        _item("b", "embeddings stay fresh when feature stores run nightly"),
        _item("c", "completely unrelated cooking recipe with garlic"),
        _item("d", "feature stores keep embeddings fresh across nightly batches", category="posts"),
    ]
    assert most_similar_other(items) == [2, 2, 0, 0, None]
    pairs = preference_pairs(items)
    assert [(p.document_id, p.rejected_by) for p in pairs] == [
        ("a", "other_extract"),
        ("a", "other_extract"),
        ("b", "other_extract"),
        ("c", "other_extract"),
        ("d", "truncated"),
    ]
    assert pairs[0].rejected == items[2].chosen and pairs[0].chosen == items[0].chosen
    assert pairs[0].prompt == items[0].sample.instruction


def test_the_model_answer_is_rejected_when_there_is_one() -> None:
    [pair] = preference_pairs([_item("a", "The author's own words on pipelines.", model_answer="A model's answer.")])
    assert (pair.rejected, pair.rejected_by) == ("A model's answer.", "llm")


def test_a_truncated_answer_is_shorter_and_never_equal() -> None:
    text = "First sentence here. Second sentence is longer than the first. Third one closes the answer."
    assert truncated(text) == "First sentence here." and len(truncated("one long sentence without a stop")) < 33
