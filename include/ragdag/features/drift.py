"""Drift of the feature store: do this embed run's chunks look like the chunks the model was trained on?

Two views, both on a sample of chunks (vectors and texts):

- **embeddings**: a two-sample test, the maximum mean discrepancy (MMD², unbiased, Gaussian kernel
  with the median-distance bandwidth) after a PCA fitted on the pooled sample, with a permutation
  p-value. Pooled fits keep the test exact under the null: the PCA, the bandwidth and the kernel
  matrix do not depend on which side a chunk came from. ``p < RAGDAG_DRIFT_ALPHA`` is drift.
- **texts**: length, language shares and vocabulary overlap, reported beside the test (they explain
  a drift, they do not decide it).

The **reference** is the feature store as the last trained model's dataset saw it: each embed run
keeps a sample of the store after it (``drift/snapshots/<run>.npz`` in the object store) and the
reference is the snapshot of the embed run the trained model's dataset version was built from
(the newest embed run before that version was published). Until a model is trained it is the
previous embed run's snapshot; the first run has no reference and measures nothing. Which dataset
the last model was trained on is the caller's to say (:class:`TrainedDataset`, from
:func:`ragdag.observability.lineage.trained_dataset`): the feature stage reads no model registry.

The pure functions (:func:`mmd_test`, :func:`text_statistics`, :func:`compare`) know no store;
:func:`measure_embed_drift` is the thin call the ``embed_documents`` task makes.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import AwareDatetime, BaseModel, Field

from ragdag.stages import Stage

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.settings import Settings

SNAPSHOTS_PREFIX = "drift/snapshots"
PCA_COMPONENTS = 20
VOCABULARY_SIZE = 1000
_WORD = re.compile(r"\w+", re.UNICODE)


# --- the two-sample test -------------------------------------------------------------------------


class MmdResult(BaseModel):
    statistic: float  # unbiased MMD² in the PCA space
    p_value: float
    permutations: int
    components: int
    bandwidth: float
    reference_size: int
    current_size: int


def _pca(pooled: np.ndarray, components: int) -> np.ndarray:
    centered = pooled - pooled.mean(axis=0, keepdims=True)
    k = max(1, min(components, centered.shape[0] - 1, centered.shape[1]))
    # SVD of the pooled sample: the same projection scikit-learn's PCA computes, without the import.
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    return centered @ vt[:k].T


def _mmd2_of_splits(kernel: np.ndarray, in_x: np.ndarray) -> np.ndarray:
    """Unbiased MMD² for each row of ``in_x`` (a boolean split of the pooled sample into x / y)."""
    a = in_x.astype(np.float64)
    b = 1.0 - a
    n, m = a.sum(axis=1), b.sum(axis=1)
    diagonal = np.diag(kernel)
    ka = a @ kernel
    sum_xx = (ka * a).sum(axis=1) - a @ diagonal
    sum_xy = (ka * b).sum(axis=1)
    sum_yy = kernel.sum() - (ka * a).sum(axis=1) - 2.0 * sum_xy - b @ diagonal
    return sum_xx / (n * (n - 1)) + sum_yy / (m * (m - 1)) - 2.0 * sum_xy / (n * m)


def mmd_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    permutations: int = 200,
    components: int = PCA_COMPONENTS,
    seed: int = 0,
) -> MmdResult:
    """MMD² of two samples of vectors with a permutation p-value (at least 2 vectors each)."""
    reference, current = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    n, m = len(reference), len(current)
    if n < 2 or m < 2:
        raise ValueError(f"the drift test needs at least 2 vectors on each side, got {n} and {m}")
    projected = _pca(np.concatenate([reference, current]), components)
    squared = np.square(projected).sum(axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2.0 * projected @ projected.T, 0.0)
    upper = distances[np.triu_indices_from(distances, k=1)]
    bandwidth = float(np.median(upper)) or 1.0  # median heuristic on squared distances
    kernel = np.exp(-distances / bandwidth)
    observed_split = np.arange(n + m) < n
    observed = float(_mmd2_of_splits(kernel, observed_split[None, :])[0])
    rng = np.random.default_rng(seed)
    splits = np.stack([rng.permutation(observed_split) for _ in range(permutations)])
    at_least = int((_mmd2_of_splits(kernel, splits) >= observed - 1e-12).sum())
    return MmdResult(
        statistic=observed,
        p_value=(1 + at_least) / (1 + permutations),
        permutations=permutations,
        components=projected.shape[1],
        bandwidth=bandwidth,
        reference_size=n,
        current_size=m,
    )


# --- text statistics -----------------------------------------------------------------------------


class TextStatistics(BaseModel):
    chunks: int
    mean_chars: float
    mean_words: float
    languages: dict[str, float]  # share of chunks per detected language ("und": too short to tell)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def text_statistics(texts: Sequence[str]) -> TextStatistics:
    from ragdag.crawling.extraction.language import detect_language

    languages = Counter(detect_language(t) or "und" for t in texts)
    total = max(len(texts), 1)
    return TextStatistics(
        chunks=len(texts),
        mean_chars=round(sum(len(t) for t in texts) / total, 1),
        mean_words=round(sum(len(_words(t)) for t in texts) / total, 1),
        languages={lang: round(count / total, 4) for lang, count in languages.most_common()},
    )


def vocabulary_overlap(reference: Sequence[str], current: Sequence[str], size: int = VOCABULARY_SIZE) -> float:
    """Share of the current sample's ``size`` most frequent words that the reference's also has."""
    top_current = [w for w, _ in Counter(w for t in current for w in _words(t)).most_common(size)]
    if not top_current:
        return 1.0
    top_reference = {w for w, _ in Counter(w for t in reference for w in _words(t)).most_common(size)}
    return round(sum(w in top_reference for w in top_current) / len(top_current), 4)


# --- the comparison ------------------------------------------------------------------------------


class DriftReport(BaseModel):
    reference_kind: str  # "trained_dataset" or "previous_embed_run"
    reference_run_id: str
    reference_dataset_version: str | None = None
    alpha: float
    drifted: bool
    embeddings: MmdResult
    reference_text: TextStatistics
    current_text: TextStatistics
    vocabulary_overlap: float

    @property
    def p_value(self) -> float:
        return self.embeddings.p_value


class ChunkSample(BaseModel):
    """Vectors and texts of some chunks (a snapshot, or the current store)."""

    run_id: str
    vectors: list[list[float]] = Field(repr=False)
    texts: list[str] = Field(repr=False)

    def array(self) -> np.ndarray:
        return np.asarray(self.vectors, dtype=np.float32)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, vectors=self.array(), texts=np.asarray(self.texts, dtype=str), run_id=np.asarray(self.run_id)
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ChunkSample:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls(run_id=str(npz["run_id"]), vectors=npz["vectors"].tolist(), texts=[str(t) for t in npz["texts"]])


def compare(
    reference: ChunkSample,
    current: ChunkSample,
    *,
    alpha: float,
    permutations: int,
    reference_kind: str,
    reference_dataset_version: str | None = None,
    seed: int = 0,
) -> DriftReport:
    result = mmd_test(reference.array(), current.array(), permutations=permutations, seed=seed)
    return DriftReport(
        reference_kind=reference_kind,
        reference_run_id=reference.run_id,
        reference_dataset_version=reference_dataset_version,
        alpha=alpha,
        drifted=result.p_value < alpha,
        embeddings=result,
        reference_text=text_statistics(reference.texts),
        current_text=text_statistics(current.texts),
        vocabulary_overlap=vocabulary_overlap(reference.texts, current.texts),
    )


# --- the thin call: snapshots, the reference, the run's measure ----------------------------------


def snapshot_key(run_id: str) -> str:
    from ragdag.stores.object_store import run_folder

    return f"{SNAPSHOTS_PREFIX}/{run_folder(run_id)}.npz"


def sample_store(settings: Settings, run_id: str) -> ChunkSample:
    """Up to ``RAGDAG_DRIFT_MAX_SAMPLE`` chunks of the store (see `vector_store.sample_chunks`)."""
    from ragdag.features.vector_store import sample_chunks
    from ragdag.stores.qdrant import qdrant_client

    with qdrant_client(settings) as client:
        points = sample_chunks(client, settings.drift_max_sample)
    return ChunkSample(
        run_id=run_id,
        vectors=[point.vector or [] for point in points],
        texts=[str(point.payload.get("text", "")) for point in points],
    )


def _embed_runs_with_snapshots(db: Database) -> list[tuple[str, datetime, str]]:
    from ragdag.observability.run_records import RunStatus, list_runs

    found = []
    for record in list_runs(db, stage=Stage.EMBED):
        uri = record.details.get("drift_snapshot")
        if uri and record.run_id and record.status == RunStatus.SUCCESS:
            found.append((record.run_id, record.started_at, record.details.get("drift_snapshot_key", "")))
    return found  # newest first


class TrainedDataset(BaseModel):
    """The dataset version the last trained model learned from, and when it was published."""

    version: str
    published_at: AwareDatetime


def find_reference(
    db: Database, run_id: str, trained: TrainedDataset | None = None
) -> tuple[str, str, str | None] | None:
    """(snapshot key, kind, dataset version) of the reference for ``run_id``, or None."""
    snapshots = [s for s in _embed_runs_with_snapshots(db) if s[0] != run_id and s[2]]
    if not snapshots:
        return None
    if trained is not None:
        before = [s for s in snapshots if s[1] <= trained.published_at]
        if before:
            return before[0][2], "trained_dataset", trained.version
    return snapshots[0][2], "previous_embed_run", None


def measure_embed_drift(settings: Settings, run_id: str, trained: TrainedDataset | None = None) -> dict[str, Any]:
    """Snapshot the store after this embed run and compare it with the reference.

    Returns the details for the run record: ``drift_snapshot`` (URI), ``drift_snapshot_key`` and
    ``drift`` (a :class:`DriftReport` as JSON, or None with ``drift_skipped`` saying why).
    """
    from ragdag.stores.mongo import mongo_database
    from ragdag.stores.object_store import open_object_store

    store = open_object_store(settings)
    current = sample_store(settings, run_id)
    details: dict[str, Any] = {"drift": None}
    if len(current.texts) >= 2:
        key = snapshot_key(run_id)
        details.update(drift_snapshot=store.put_bytes(key, current.to_bytes()), drift_snapshot_key=key)
    with mongo_database(settings) as db:
        reference = find_reference(db, run_id, trained)
    if len(current.texts) < 2:
        details["drift_skipped"] = "fewer than 2 chunks in the store"
    elif reference is None:
        details["drift_skipped"] = "no reference yet (first embed run)"
    else:
        key, kind, version = reference
        report = compare(
            ChunkSample.from_bytes(store.get_bytes(key)),
            current,
            alpha=settings.drift_alpha,
            permutations=settings.drift_permutations,
            reference_kind=kind,
            reference_dataset_version=version,
        )
        details["drift"] = json.loads(report.model_dump_json())
    return details


def latest_drift(settings: Settings) -> dict[str, Any] | None:
    """The drift measured by the newest embed run that measured one (for the next dataset manifest)."""
    from ragdag.observability.run_records import latest_stage_report
    from ragdag.stores.mongo import mongo_database

    with mongo_database(settings) as db:
        # $exists too: the embedded MongoDB's $ne null also matches records without the field.
        details = latest_stage_report(db, Stage.EMBED, {"drift": {"$exists": True, "$ne": None}})
    return details.get("drift") if details else None


def record_embed_drift(settings: Settings, run_id: str, trained: TrainedDataset | None = None) -> dict[str, Any] | None:
    """Measure this embed run's drift and keep it in the run's record; the drift (or None).

    A drift test that cannot run (a snapshot unreadable, the store busy) is recorded as
    ``drift_error`` and does not fail the embed run: its features are written already.
    """
    import logging

    from ragdag.observability.run_records import record_stage_report
    from ragdag.stores.mongo import mongo_database

    try:
        details = measure_embed_drift(settings, run_id, trained)
    except Exception as error:  # noqa: BLE001
        logging.getLogger(__name__).exception("drift test of run %s failed", run_id)
        details = {"drift": None, "drift_error": f"{type(error).__name__}: {error}"}
    with mongo_database(settings) as db:
        record_stage_report(db, Stage.EMBED, run_id, details, settings=settings)
    return details["drift"]


def drift_extra(drift: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the ``embedded_chunks`` event says of the drift test (None: not measured)."""
    if not drift:
        return {"drift_p_value": None, "drifted": None}
    return {"drift_p_value": drift["embeddings"]["p_value"], "drifted": bool(drift["drifted"])}
