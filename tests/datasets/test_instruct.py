from __future__ import annotations

from ragdag.datasets.instruct import decontaminate, document_rank, held_out_documents, split_samples
from ragdag.models import Category, InstructSample


def _sample(doc: str, text: str = "x", category: Category = Category.ARTICLES) -> InstructSample:
    return InstructSample(instruction="i", output=text, document_id=doc, author_full_name="A", category=category)


def _documents(train: list[InstructSample], test: list[InstructSample]) -> tuple[set[str], set[str]]:
    return {s.document_id for s in train}, {s.document_id for s in test}


def test_split_is_by_document_and_a_threshold_on_the_hash_of_its_id() -> None:
    samples = [_sample(f"doc-{d}", f"chunk {c}") for d in range(400) for c in range(3)]
    train, test = split_samples(samples, test_share=0.2)
    train_docs = {s.document_id for s in train}
    test_docs = {s.document_id for s in test}
    assert not train_docs & test_docs, "a document's samples never straddle the split"
    assert 50 <= len(test_docs) <= 110, "about a fifth of 400 documents"
    assert test_docs == {f"doc-{d}" for d in range(400) if document_rank(f"doc-{d}") < 0.2}
    assert split_samples(list(reversed(samples)), 0.2)[1] == list(reversed(test)), "order does not matter"


def test_a_test_document_stays_in_test_when_the_corpus_grows() -> None:
    old = [_sample(f"doc-{d}", category=Category.ARTICLES if d % 3 else Category.POSTS) for d in range(60)]
    old_train, old_test = _documents(*split_samples(old, 0.2))
    assert old_test and old_train
    for added in (1, 5, 40, 300):
        grown = old + [_sample(f"new-{d}", category=Category.REPOSITORIES) for d in range(added)]
        train, test = _documents(*split_samples(grown, 0.2))
        assert old_test <= test, "every old test document stays in test"
        assert not old_train & test, "no old train document moves to test"
    # Removing documents moves nothing either.
    assert _documents(*split_samples(old[:20], 0.2))[1] == {f"doc-{d}" for d in range(20)} & old_test


def test_raising_the_share_only_moves_train_documents_to_test() -> None:
    samples = [_sample(f"doc-{d}") for d in range(200)]
    smaller = held_out_documents(samples, 0.2)
    assert smaller < held_out_documents(samples, 0.3)
    assert held_out_documents(samples, 0.0) == set()


def test_decontamination_drops_test_answers_sharing_a_long_ngram() -> None:
    shared = "the same paragraph was crawled under two URLs and must never be on both sides of a split"
    train = [_sample("a", f"Train opening words. {shared}. Then more.")]
    leaked = _sample("b", f"A different start, but {shared.upper()} again.")
    clean = _sample("c", "the same paragraph was crawled under two URLs and then something else entirely")
    kept, dropped = decontaminate(train, [leaked, clean], n=13)
    assert dropped == [leaked] and kept == [clean]
