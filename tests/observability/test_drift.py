"""Drift: a planted shift (German chunks against English ones) is flagged; same-distribution batches
are not, at about the test's alpha over repeated draws. Real texts, real MiniLM embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragdag.features.drift import ChunkSample, compare, mmd_test, text_statistics, vocabulary_overlap

pytestmark = pytest.mark.slow  # loads the embedding model

SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpus"
ALPHA = 0.05
DRAWS = 40
BATCH = 50


def _english_paragraphs() -> list[str]:
    import lxml.html

    from ragdag.crawling.extraction.language import detect_language

    paragraphs = []
    for page in sorted((SHARED / "article-pages").iterdir()):
        root = lxml.html.fromstring((page / "expected.html").read_bytes())
        for p in root.iter("p"):
            text = " ".join(p.text_content().split())
            if 120 <= len(text) <= 600 and detect_language(text) == "en":
                paragraphs.append(text)
    return paragraphs


def _german_snippets() -> list[str]:
    from ragdag.crawling.extraction.language import detect_language

    snippets = json.loads((SHARED / "snippet-pages" / "snippets.json").read_text())
    return [s for page in snippets.values() for s in page["with"] if detect_language(s) == "de"]


@pytest.fixture(scope="session")
def corpus_vectors() -> dict[str, tuple[list[str], np.ndarray]]:
    """English paragraphs and German snippets with their all-MiniLM-L6-v2 vectors, once per session."""
    from ragdag.features.embedding import load_embedder
    from ragdag.settings import Settings

    embedder = load_embedder(Settings())
    rng = np.random.default_rng(7)
    english, german = _english_paragraphs(), _german_snippets()
    assert len(english) >= 4 * BATCH and len(german) >= BATCH, (len(english), len(german))
    english = [english[i] for i in rng.permutation(len(english))[: 4 * BATCH]]
    german = [german[i] for i in rng.permutation(len(german))[:BATCH]]
    return {
        name: (texts, np.asarray(embedder.embed(texts, batch_size=64), dtype=np.float32))
        for name, texts in (("en", english), ("de", german))
    }


def _sample(run_id: str, texts: list[str], vectors: np.ndarray, index: np.ndarray) -> ChunkSample:
    return ChunkSample(run_id=run_id, vectors=vectors[index].tolist(), texts=[texts[i] for i in index])


def test_another_language_is_flagged_as_drift(corpus_vectors) -> None:
    en_texts, en_vectors = corpus_vectors["en"]
    de_texts, de_vectors = corpus_vectors["de"]
    reference = _sample("run-en", en_texts, en_vectors, np.arange(BATCH))
    current = _sample("run-de", de_texts, de_vectors, np.arange(BATCH))

    report = compare(reference, current, alpha=ALPHA, permutations=200, reference_kind="previous_embed_run")

    assert report.drifted and report.p_value < ALPHA
    assert report.embeddings.reference_size == report.embeddings.current_size == BATCH
    assert report.reference_text.languages.get("en", 0) > 0.9 and report.current_text.languages.get("de", 0) > 0.9
    assert report.vocabulary_overlap < 0.5


def test_same_distribution_batches_are_not_flagged_beyond_alpha(corpus_vectors) -> None:
    texts, vectors = corpus_vectors["en"]
    rng = np.random.default_rng(2026)
    p_values = []
    for _ in range(DRAWS):
        draw = rng.permutation(len(texts))
        p_values.append(
            mmd_test(
                vectors[draw[:BATCH]],
                vectors[draw[BATCH : 2 * BATCH]],
                permutations=100,
                seed=int(rng.integers(1 << 31)),
            ).p_value
        )
    false_positive_rate = float(np.mean(np.asarray(p_values) < ALPHA))
    assert false_positive_rate <= 0.15, sorted(p_values)[:8]
    assert np.median(p_values) > 0.2  # under the null the p-values spread over (0, 1]


def test_a_half_shifted_batch_is_flagged_and_a_topic_mix_of_the_same_language_is_measured(corpus_vectors) -> None:
    en_texts, en_vectors = corpus_vectors["en"]
    de_texts, de_vectors = corpus_vectors["de"]
    mixed = np.concatenate([en_vectors[BATCH : BATCH + BATCH // 2], de_vectors[BATCH // 2 :]])
    assert mmd_test(en_vectors[:BATCH], mixed, permutations=200).p_value < ALPHA


def test_the_statistic_is_exact_under_permutation_and_needs_two_vectors_a_side() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(size=(30, 8))
    result = mmd_test(same[:15], same[15:], permutations=50, seed=1)
    assert 0 < result.p_value <= 1 and result.components == 8
    with pytest.raises(ValueError, match="at least 2 vectors"):
        mmd_test(same[:1], same[1:], permutations=10)


def test_text_statistics_and_vocabulary() -> None:
    stats = text_statistics(
        [
            "The quick brown fox jumps over the lazy dog near the river bank today.",
            "Der schnelle braune Fuchs springt über den faulen Hund am Flussufer heute.",
        ]
    )
    assert stats.chunks == 2 and stats.languages == {"en": 0.5, "de": 0.5}
    assert stats.mean_words == 13.0
    assert vocabulary_overlap(["a b c d"], ["a b x y"]) == 0.5


def _store_chunks(settings, texts: list[str], vectors: np.ndarray, prefix: str) -> None:
    """Replace the feature store's content with one single-chunk document per text (the stage's own writer)."""
    from ragdag.features.vector_store import DocumentFeatures, ensure_collections, write_features
    from ragdag.models import Chunk, content_hash, document_id
    from ragdag.stores.qdrant import qdrant_client

    with qdrant_client(settings) as client:
        for name in ("embedded_chunks", "cleaned_documents"):
            if client.collection_exists(name):
                client.delete_collection(name)
        ensure_collections(client, settings.embedding_dim)
        ids = [document_id(f"https://example.org/{prefix}/{i}") for i in range(len(texts))]
        items = [
            DocumentFeatures(
                document={
                    "_id": ids[i],
                    "url": f"https://example.org/{prefix}/{i}",
                    "category": "articles",
                    "content_hash": content_hash(text),
                },
                cleaned_text=text,
                chunks=[Chunk(document_id=ids[i], chunk_index=0, text=text, token_count=9)],
                vectors=vectors[i : i + 1],
            )
            for i, text in enumerate(texts)
        ]
        write_features(client, items, model_id="m", feature_version="f")


def test_each_embed_run_is_compared_with_the_previous_one_and_the_drift_is_kept(
    settings, mongo_db, corpus_vectors, monkeypatch
) -> None:
    from ragdag.features.drift import latest_drift, measure_embed_drift
    from ragdag.observability.run_records import record_stage_report

    monkeypatch.setattr(settings, "drift_max_sample", BATCH)
    en_texts, en_vectors = corpus_vectors["en"]
    de_texts, de_vectors = corpus_vectors["de"]

    _store_chunks(settings, en_texts[:BATCH], en_vectors, "en")
    first = measure_embed_drift(settings, "embed-1")
    assert first["drift"] is None and first["drift_skipped"].startswith("no reference")
    record_stage_report(mongo_db, "embed", "embed-1", first, settings=settings)

    _store_chunks(settings, de_texts[:BATCH], de_vectors, "de")
    second = measure_embed_drift(settings, "embed-2")
    drift = second["drift"]
    assert drift["reference_kind"] == "previous_embed_run" and drift["reference_run_id"] == "embed-1"
    assert drift["drifted"] and drift["embeddings"]["p_value"] < settings.drift_alpha
    assert drift["embeddings"]["reference_size"] == drift["embeddings"]["current_size"] == BATCH
    record_stage_report(mongo_db, "embed", "embed-2", second, settings=settings)
    assert latest_drift(settings) == drift


def test_the_reference_is_the_snapshot_the_trained_models_dataset_was_built_from(settings, mongo_db) -> None:
    from ragdag.features.drift import TrainedDataset, find_reference
    from ragdag.observability.run_records import list_runs, record_stage_report

    for run_id in ("embed-1", "embed-2"):
        details = {"drift": None, "drift_snapshot": f"file:///{run_id}.npz", "drift_snapshot_key": f"{run_id}.npz"}
        record_stage_report(mongo_db, "embed", run_id, details, settings=settings)
    (first,) = list_runs(mongo_db, stage="embed", run_id="embed-1")
    (second,) = list_runs(mongo_db, stage="embed", run_id="embed-2")
    if second.started_at == first.started_at:
        pytest.skip("both runs recorded in the same millisecond")

    # No model trained: the previous embed run. A model trained on a dataset published after embed-1
    # (and before embed-2): embed-1's snapshot, although embed-2 is newer.
    assert find_reference(mongo_db, "embed-3") == ("embed-2.npz", "previous_embed_run", None)
    trained = TrainedDataset(version="v1", published_at=first.started_at)
    assert find_reference(mongo_db, "embed-3", trained) == ("embed-1.npz", "trained_dataset", "v1")
    # A dataset older than every snapshot: back to the previous run.
    early = TrainedDataset(version="v0", published_at=first.started_at.replace(year=2000))
    assert find_reference(mongo_db, "embed-3", early) == ("embed-2.npz", "previous_embed_run", None)
