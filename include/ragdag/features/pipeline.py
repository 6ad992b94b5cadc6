"""The feature stage: validated MongoDB documents become cleaned, chunked, embedded chunks in Qdrant.

Incremental: a document whose ``content_hash`` (and feature version: model, cleaning and chunking
rules) matches what Qdrant holds is skipped, never re-embedded; a changed one is re-embedded and its
stale chunks removed; one no longer accepted (or deleted) loses its chunks, including chunks that a
killed earlier run wrote before any record of them (see :mod:`ragdag.features.vector_store`).

Three steps, each an Airflow task of ``embed_documents`` (:func:`embed_validated_documents` runs
them one after the other in one process):

1. :func:`plan_embedding`: the pending documents, split by document-id hash into partitions sized
   by the work (``RAGDAG_EMBEDDING_MIN_PARTITION_CHUNKS`` each, at most
   ``RAGDAG_EMBEDDING_PARTITIONS``; :mod:`ragdag.features.partitions`);
2. :func:`encode_embedding_partition`, once per partition, in parallel: clean, chunk, embed and
   stage the vectors in the object store (:mod:`ragdag.features.staging`); a partition staged
   already is not encoded again;
3. :func:`finish_embedding`: the staged vectors into Qdrant (:mod:`ragdag.features.upsert`), the
   documents no longer accepted removed, the retrieval check, the run's record; staging cleaned.

Memory stays bounded: documents are read a page at a time and embedded (and written) in groups of
about ``flush_chunks`` chunks. The model is loaded only when something needs embedding.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ragdag.features.chunking import chunk_document, chunking_fingerprint
from ragdag.features.cleaning import CLEANING_VERSION, CleanedDocument, clean_document
from ragdag.features.embedding import Embedder, LazyEmbedder, embedding_variant
from ragdag.features.partitions import (
    STAGING_PREFIX,
    RunPlan,
    load_plan,
    load_run_plan,
    plan_run,
    run_prefix,
    staged_run_prefixes,
)
from ragdag.features.report import STAGE, EmbeddingReport, last_evaluation, record_run
from ragdag.features.retrieval import evaluate_with
from ragdag.features.source import embeddable_ids
from ragdag.features.staging import StagedPartition, encode_partition, read_manifest
from ragdag.features.tokenizer import ModelTokenizer
from ragdag.features.upsert import upsert_staged
from ragdag.features.vector_store import DocumentFeatures, count_points, ensure_collections, reconcile
from ragdag.models import Category
from ragdag.settings import Settings
from ragdag.stores.connections import find_connection
from ragdag.stores.mongo import mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client
from ragdag.text_safety import MASKING_VERSION, SECRET_PREFIX, add_counts, mask_text, sorted_counts

if TYPE_CHECKING:
    from pymongo.database import Database
    from qdrant_client import QdrantClient

    from ragdag.stores.object_store import ObjectStore

log = logging.getLogger(__name__)

# Files of a repository written as prose (docs): masked by prose rules, the rest by code rules.
_PROSE_FILE_SUFFIXES = (".md", ".markdown", ".rst", ".txt", ".adoc")


@dataclass(frozen=True)
class PipelineConfig:
    """The feature stage's sizes (see the ``embedding_*`` and ``retrieval_eval_*`` settings)."""

    page_documents: int = 256
    flush_chunks: int = 512
    eval_sample_size: int = 50
    eval_k: int = 5
    server_upsert_workers: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        return cls(
            page_documents=settings.embedding_page_documents,
            flush_chunks=settings.embedding_flush_chunks,
            eval_sample_size=settings.retrieval_eval_sample_size,
            eval_k=settings.retrieval_eval_k,
            server_upsert_workers=settings.qdrant_upsert_workers,
        )


def feature_version(model_id: str, quantization: str = "none") -> str:
    """Identifies how features are made; stored per document, a change re-embeds everything."""
    recipe = f"model={model_id}|cleaning={CLEANING_VERSION}|masking={MASKING_VERSION}|chunking={chunking_fingerprint()}"
    if quantization != "none":
        recipe += f"|quantization={quantization}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _masked(cleaned: CleanedDocument, category: Category, counts: Counter[str]) -> CleanedDocument:
    """Secrets and personal data masked in every section; a repository's source files by code rules."""
    sections = []
    for section in cleaned.sections:
        heading = (section.heading or "").lower()
        code = category == Category.REPOSITORIES and not heading.endswith(_PROSE_FILE_SUFFIXES)
        result = mask_text(section.body, code=code)
        add_counts(counts, result.counts)
        sections.append(replace(section, body=result.text))
    return replace(cleaned, sections=tuple(sections))


def prepare_document(document: Mapping[str, Any], tokenizer: ModelTokenizer) -> DocumentFeatures:
    """Clean, mask and chunk one MongoDB record (pure: no store, no model).

    Secrets and personal data are masked before chunking (:mod:`ragdag.text_safety`), so neither
    the feature store nor a dataset built from it holds them. A document with a live-looking key
    is kept with the key masked, not quarantined: such a key is most often an example in the
    author's own explanation, the rest of the text is theirs to learn from, and everything
    downstream reads the masked chunks only. The decision is logged, with the kinds, never the value.
    """
    category = Category(document["category"])
    counts: Counter[str] = Counter()
    cleaned = _masked(clean_document(document), category, counts)
    document_id = str(document["_id"])
    chunks = chunk_document(cleaned, category, tokenizer, document_id)
    # The raw text is not needed once chunked: drop it so a group holds only what gets written.
    record = {k: v for k, v in document.items() if k not in ("content", "files")}
    if record.get("title"):
        title = mask_text(str(record["title"]))
        add_counts(counts, title.counts)
        record["title"] = title.text
    secrets = sorted_counts({kind: n for kind, n in counts.items() if kind.startswith(SECRET_PREFIX)})
    if secrets:
        log.warning("document %s: secrets masked before chunking (kept, not quarantined): %s", document_id, secrets)
    return DocumentFeatures(document=record, cleaned_text=cleaned.text, chunks=chunks, masked=sorted_counts(counts))


def run_feature_version(settings: Settings) -> str:
    return feature_version(settings.embedding_model_id, embedding_variant(settings))


def plan_embedding(settings: Settings, run_id: str, *, config: PipelineConfig | None = None) -> RunPlan:
    """Step 1: which documents need embedding, in which partition (opens Qdrant to read records)."""
    config = config or PipelineConfig.from_settings(settings)
    version = run_feature_version(settings)
    with mongo_database(settings) as db, qdrant_client(settings) as client:
        ensure_collections(client, settings.embedding_dim)
        return plan_run(
            open_object_store(settings),
            db,
            client,
            run_id,
            version,
            partitions=settings.embedding_partitions,
            min_partition_chunks=settings.embedding_min_partition_chunks,
            page=config.page_documents,
        )


def encode_embedding_partition(
    settings: Settings,
    plan_key: str,
    *,
    embedder: Embedder | LazyEmbedder | None = None,
    config: PipelineConfig | None = None,
) -> tuple[StagedPartition, bool]:
    """Step 2, one partition: its vectors staged (or found staged); whether this call encoded them."""
    config = config or PipelineConfig.from_settings(settings)
    lazy = embedder if isinstance(embedder, LazyEmbedder) else LazyEmbedder(settings, embedder)
    with mongo_database(settings) as db:
        return encode_partition(
            open_object_store(settings),
            db,
            plan_key,
            lazy,
            batch_size=settings.embedding_batch_size,
            flush_chunks=config.flush_chunks,
            page_documents=config.page_documents,
            prepare=prepare_document,
        )


def _staged(store: ObjectStore, plan: RunPlan) -> list[StagedPartition]:
    manifests = []
    for ref in plan.partitions:
        manifest = read_manifest(store, load_plan(store, ref.plan_key))
        if manifest is None:
            raise RuntimeError(
                f"partition {ref.partition} of run {plan.run_id} is not staged ({ref.plan_key} has no manifest): "
                "its encoding task did not finish"
            )
        manifests.append(manifest)
    return manifests


def _evaluate(
    settings: Settings,
    db: Database,
    client: QdrantClient,
    embedder: LazyEmbedder,
    report: EmbeddingReport,
    config: PipelineConfig,
) -> None:
    report.documents_total, report.chunks_total = count_points(client)
    previous = None if report.changed_store else last_evaluation(db, report)
    if previous is not None:
        # Same index as the run that measured it: the seeded sample would give the same rate.
        report.retrieval_hit_rate = previous["retrieval_hit_rate"]
        report.retrieval_sample_size = int(previous.get("retrieval_sample_size", 0))
        report.retrieval_reused = True
        return
    if report.chunks_total == 0:
        return
    evaluation = evaluate_with(
        client,
        embedder.get(),
        sample_size=config.eval_sample_size,
        k=config.eval_k,
        batch_size=settings.embedding_batch_size,
    )
    report.retrieval_hit_rate = evaluation.hit_rate
    report.retrieval_sample_size = evaluation.sample_size


def finish_embedding(
    settings: Settings,
    run_id: str,
    *,
    embedder: Embedder | LazyEmbedder | None = None,
    config: PipelineConfig | None = None,
    started: float | None = None,
) -> EmbeddingReport:
    """Step 3: every staged partition into Qdrant, the gone documents out, the retrieval check, the record.

    The staged objects stay until :func:`clean_staging` (after the whole task succeeded): a retry
    of this step writes the same points again.
    """
    config = config or PipelineConfig.from_settings(settings)
    started = time.perf_counter() if started is None else started
    store = open_object_store(settings)
    plan = load_run_plan(store, run_id)
    if plan.feature_version != run_feature_version(settings):
        raise ValueError(
            f"run {plan.run_id} was planned for feature version {plan.feature_version}, the settings now "
            f"make {run_feature_version(settings)}: trigger a new run"
        )
    lazy = embedder if isinstance(embedder, LazyEmbedder) else LazyEmbedder(settings, embedder)
    report = EmbeddingReport(
        run_id=plan.run_id,
        embedding_model=settings.embedding_model_id,
        feature_version=plan.feature_version,
        retrieval_k=config.eval_k,
        documents_skipped=plan.documents_skipped,
    )
    manifests = _staged(store, plan)
    masked: Counter[str] = Counter()
    for manifest in manifests:
        add_counts(masked, manifest.masked)
    report.masked = sorted_counts(masked)
    server = find_connection(settings.qdrant_conn_id) is not None
    with mongo_database(settings) as db, qdrant_client(settings) as client:
        ensure_collections(client, settings.embedding_dim)
        written = upsert_staged(
            client,
            store,
            manifests,
            feature_version=plan.feature_version,
            workers=config.server_upsert_workers if server else 1,
        )
        report.documents_embedded = written.documents_embedded
        report.documents_empty = written.documents_empty
        report.chunks_written = written.chunks_written
        report.chunks_deleted = written.chunks_deleted
        # Documents no longer accepted in MongoDB (and chunks no record knows of) go.
        gone = reconcile(client, lambda category, ids: embeddable_ids(db, category, ids))
        report.documents_deleted = written.documents_deleted + gone.documents_deleted
        report.chunks_deleted += gone.chunks_deleted
        _evaluate(settings, db, client, lazy, report, config)
        report.seconds = round(time.perf_counter() - started, 3)
        record_run(db, report)
    return report


def clean_staging(settings: Settings, run_id: str) -> int:
    """Delete the run's staged objects (after its upsert succeeded), and those of runs that never
    finished and whose last task started more than ``RAGDAG_STAGING_RETENTION_DAYS`` ago (or never
    under Airflow); how many objects went."""
    from ragdag.observability.run_records import list_runs

    store = open_object_store(settings)
    removed = store.delete_prefix(run_prefix(run_id) + "/")
    cutoff = datetime.now(UTC) - timedelta(days=settings.staging_retention_days)
    with mongo_database(settings) as db:
        recent = {
            run_prefix(record.run_id)
            for record in list_runs(db, stage=STAGE)
            if record.run_id and record.started_at >= cutoff
        }
    for prefix in sorted(staged_run_prefixes(store.list_keys(f"{STAGING_PREFIX}/")) - recent):
        removed += store.delete_prefix(prefix + "/")
        log.info("deleted the staged vectors of an unfinished embed run (%s)", prefix)
    return removed


def embed_validated_documents(
    settings: Settings,
    run_id: str,
    *,
    embedder: Embedder | None = None,
    config: PipelineConfig | None = None,
) -> EmbeddingReport:
    """Bring Qdrant's features in line with MongoDB's validated documents; report what changed.

    The three steps of the DAG in this process, partitions one after the other.
    """
    config = config or PipelineConfig.from_settings(settings)
    started = time.perf_counter()
    lazy = LazyEmbedder(settings, embedder)
    plan = plan_embedding(settings, run_id, config=config)
    for ref in plan.partitions:
        encode_embedding_partition(settings, ref.plan_key, embedder=lazy, config=config)
    report = finish_embedding(settings, run_id, embedder=lazy, config=config, started=started)
    clean_staging(settings, run_id)
    return report
