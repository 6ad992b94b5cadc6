from __future__ import annotations

from ragdag.datasets.instruct import first_sentence, in_test_split, sample_from_chunk, split_samples
from ragdag.models import Category, InstructSample


def _sample(doc: str, text: str = "x") -> InstructSample:
    return InstructSample(
        instruction="i", output=text, document_id=doc, author_full_name="A", category=Category.ARTICLES
    )


def test_split_is_by_document_and_stable() -> None:
    samples = [_sample(f"doc-{d}", f"chunk {c}") for d in range(200) for c in range(3)]
    train, test = split_samples(samples, test_share=0.2, seed=7)
    train_docs = {s.document_id for s in train}
    test_docs = {s.document_id for s in test}
    assert not train_docs & test_docs, "a document's chunks never straddle the split"
    assert 0.1 < len(test_docs) / 200 < 0.3
    assert split_samples(samples, 0.2, 7) == (train, test)
    assert split_samples(samples, 0.2, 8) != (train, test), "the seed changes the split"


def test_tiny_corpus_still_gets_a_test_document() -> None:
    samples = [_sample("a"), _sample("b")]
    doc = next(d for d in ("a", "b") if not in_test_split(d, 0.2, 1))
    train, test = split_samples([s for s in samples if s.document_id == doc] + [_sample("c")], 0.0, 1)
    assert train and test


def test_sample_asks_for_the_chunk_in_the_authors_voice() -> None:
    chunk = {
        "category": "posts", "text": "Shipping RAG is mostly data work. More later.",
        "author_full_name": "Jane Doe", "document_id": "d1",
    }
    sample = sample_from_chunk(chunk, title=None)
    assert sample.output == chunk["text"]
    assert "Jane Doe" in sample.instruction and "social media post" in sample.instruction
    assert sample.instruction.endswith("Shipping RAG is mostly data work")
    assert "Feature stores" in sample_from_chunk(chunk, title="Feature stores").instruction


def test_first_sentence_is_bounded() -> None:
    assert first_sentence("One. Two.") == "One"
    assert len(first_sentence("word " * 100)) <= 120
