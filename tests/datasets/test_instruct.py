from __future__ import annotations

from ragdag.datasets.instruct import decontaminate, held_out_documents, split_samples
from ragdag.models import Category, InstructSample


def _sample(doc: str, text: str = "x", category: Category = Category.ARTICLES) -> InstructSample:
    return InstructSample(instruction="i", output=text, document_id=doc, author_full_name="A", category=category)


def test_split_is_by_document_and_stable() -> None:
    samples = [_sample(f"doc-{d}", f"chunk {c}") for d in range(200) for c in range(3)]
    train, test = split_samples(samples, test_share=0.2, seed=7)
    train_docs = {s.document_id for s in train}
    test_docs = {s.document_id for s in test}
    assert not train_docs & test_docs, "a document's samples never straddle the split"
    assert len(test_docs) == 40
    assert split_samples(samples, 0.2, 7) == (train, test)
    assert split_samples(samples, 0.2, 8) != (train, test), "the seed changes the split"


def test_split_is_stratified_by_category() -> None:
    samples = [_sample(f"a-{d}") for d in range(50)] + [
        _sample(f"r-{d}", category=Category.REPOSITORIES) for d in range(10)
    ]
    held_out = held_out_documents(samples, 0.2, 1)
    assert sum(d.startswith("a-") for d in held_out) == 10
    assert sum(d.startswith("r-") for d in held_out) == 2


def test_tiny_corpus_still_gets_a_test_document() -> None:
    train, test = split_samples([_sample("a"), _sample("b", category=Category.POSTS)], 0.2, 1)
    assert train and test
    assert split_samples([_sample("a"), _sample("a")], 0.2, 1)[1] == []


def test_decontamination_drops_test_answers_sharing_a_long_ngram() -> None:
    shared = "the same paragraph was crawled under two URLs and must never be on both sides of a split"
    train = [_sample("a", f"Train opening words. {shared}. Then more.")]
    leaked = _sample("b", f"A different start, but {shared.upper()} again.")
    clean = _sample("c", "the same paragraph was crawled under two URLs and then something else entirely")
    kept, dropped = decontaminate(train, [leaked, clean], n=13)
    assert dropped == [leaked] and kept == [clean]
