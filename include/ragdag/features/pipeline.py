"""The feature stage: validated MongoDB documents become cleaned, chunked, embedded chunks in Qdrant.

Incremental: a document whose ``content_hash`` (and feature version: model, cleaning and chunking
rules) matches what Qdrant holds is skipped, never re-embedded; a changed one is re-embedded and its
stale chunks removed; one no longer accepted (or deleted) loses its chunks, including chunks that a
killed earlier run wrote before any record of them (see :mod:`ragdag.features.vector_store`). Memory stays bounded:
documents are read a page at a time and embedded in groups of about ``flush_chunks`` chunks.
The model is loaded once, and only when something needs embedding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragdag.features.chunking import chunk_document, chunking_fingerprint
from ragdag.features.cleaning import CLEANING_VERSION, clean_document
from ragdag.features.embedding import Embedder, LazyEmbedder, embedding_variant
from ragdag.features.report import EmbeddingReport, last_evaluation, record_run
from ragdag.features.retrieval import evaluate_with
from ragdag.features.source import embeddable_ids, fetch_documents, iter_document_refs
from ragdag.features.tokenizer import ModelTokenizer
from ragdag.features.vector_store import (
    DocumentFeatures,
    StoredDocument,
    count_points,
    delete_documents,
    ensure_collections,
    reconcile,
    stored_documents,
    write_features,
)
from ragdag.features.writer import BackgroundWriter
from ragdag.models import Category
from ragdag.settings import Settings
from ragdag.stores.mongo import mongo_database
from ragdag.stores.qdrant import qdrant_client

if TYPE_CHECKING:
    from pymongo.database import Database
    from qdrant_client import QdrantClient

@dataclass(frozen=True)
class PipelineConfig:
    page_documents: int = 256  # documents per MongoDB query
    # Chunks per encode call: sentence-transformers sorts a call's texts by length, so bigger
    # groups pad less; this also caps the vectors held in memory (512 x 384 floats = 0.8 MB).
    flush_chunks: int = 512
    eval_sample_size: int = 50
    eval_k: int = 5


PIPELINE_CONFIG = PipelineConfig()


def feature_version(model_id: str, quantization: str = "none") -> str:
    """Identifies how features are made; stored per document, a change re-embeds everything."""
    recipe = f"model={model_id}|cleaning={CLEANING_VERSION}|chunking={chunking_fingerprint()}"
    if quantization != "none":
        recipe += f"|quantization={quantization}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _is_current(stored: StoredDocument | None, digest: str, version: str) -> bool:
    return stored is not None and stored.content_hash == digest and stored.feature_version == version


def prepare_document(document: Mapping[str, Any], tokenizer: ModelTokenizer) -> DocumentFeatures:
    """Clean and chunk one MongoDB record (pure: no store, no model)."""
    cleaned = clean_document(document)
    document_id = str(document["_id"])
    chunks = chunk_document(cleaned, Category(document["category"]), tokenizer, document_id)
    # The raw text is not needed once chunked: drop it so a group holds only what gets written.
    record = {k: v for k, v in document.items() if k not in ("content", "files")}
    return DocumentFeatures(document=record, cleaned_text=cleaned.text, chunks=chunks)


@dataclass
class _Group:
    """Documents waiting to be embedded together."""

    items: list[DocumentFeatures] = field(default_factory=list)
    chunk_count: int = 0

    def add(self, item: DocumentFeatures) -> None:
        self.items.append(item)
        self.chunk_count += len(item.chunks)


class _Run:
    """One run's state: the stores, the lazily loaded model, the report being filled."""

    def __init__(
        self, settings: Settings, db: Database, client: QdrantClient, embedder: LazyEmbedder,
        report: EmbeddingReport, config: PipelineConfig,
    ) -> None:
        self.settings, self.db, self.client = settings, db, client
        self.embedder, self.report, self.config = embedder, report, config
        self.group = _Group()
        self.writer: BackgroundWriter | None = None

    def embed_changed(self) -> None:
        self.writer = BackgroundWriter()
        try:
            self._embed_pages()
        finally:
            writer, self.writer = self.writer, None
            writer.close()  # on an earlier error, still waits so no write runs past the run

    def _embed_pages(self) -> None:
        assert self.writer is not None
        for refs in iter_document_refs(self.db, self.config.page_documents):
            with self.writer.lock:
                stored = stored_documents(self.client, [r.document_id for r in refs])
            version = self.report.feature_version
            todo = [
                r.document_id
                for r in refs
                if not _is_current(stored.get(r.document_id), r.content_hash, version)
            ]
            self.report.documents_skipped += len(refs) - len(todo)
            if not todo:
                continue
            category = refs[0].category
            for document in fetch_documents(self.db, category, todo):
                document["category"] = category.value  # the collection decides, not the field
                item = prepare_document(document, self.embedder.get().tokenizer)
                self._take(item, stored.get(item.document_id))
        self._flush()

    def _take(self, item: DocumentFeatures, previous: StoredDocument | None) -> None:
        if not item.chunks:
            self.report.documents_empty += 1
            # Chunks it had before (a record says so, or a killed run left some without one) go.
            self._submit(lambda: self._delete([item.document_id], counted=previous is not None))
            return
        self.group.add(item)
        if self.group.chunk_count >= self.config.flush_chunks:
            self._flush()

    def _flush(self) -> None:
        group, self.group = self.group, _Group()
        if not group.items:
            return
        embedder = self.embedder.get()
        chunks = [chunk for item in group.items for chunk in item.chunks]
        vectors = embedder.embed(
            [c.text for c in chunks],
            batch_size=self.settings.embedding_batch_size,
            token_counts=[c.token_count for c in chunks],
        )
        start = 0
        for item in group.items:
            item.vectors = vectors[start : start + len(item.chunks)]
            start += len(item.chunks)
        self._submit(lambda: self._write(group, embedder.model_id))

    def _submit(self, job: Callable[[], None]) -> None:
        if self.writer is None:
            job()
        else:
            self.writer.submit(job)

    # Write jobs: run on the writer thread, the only one updating these report counts meanwhile.
    def _write(self, group: _Group, model_id: str) -> None:
        result = write_features(
            self.client, group.items, model_id=model_id, feature_version=self.report.feature_version,
        )
        self.report.documents_embedded += len(group.items)
        self.report.chunks_written += result.chunks_written
        self.report.chunks_deleted += result.chunks_deleted

    def _delete(self, document_ids: list[str], *, counted: bool = True) -> None:
        self.report.chunks_deleted += delete_documents(self.client, document_ids)
        self.report.documents_deleted += len(document_ids) if counted else 0

    def remove_gone(self) -> None:
        """Drop every stored document and chunk that MongoDB no longer has as accepted."""
        result = reconcile(self.client, lambda category, ids: embeddable_ids(self.db, category, ids))
        self.report.documents_deleted += result.documents_deleted
        self.report.chunks_deleted += result.chunks_deleted

    def evaluate(self) -> None:
        report = self.report
        report.documents_total, report.chunks_total = count_points(self.client)
        previous = None if report.changed_store else last_evaluation(self.db, report)
        if previous is not None:
            # Same index as the run that measured it: the seeded sample would give the same rate.
            report.retrieval_hit_rate = previous["retrieval_hit_rate"]
            report.retrieval_sample_size = int(previous.get("retrieval_sample_size", 0))
            report.retrieval_reused = True
            return
        if report.chunks_total == 0:
            return
        evaluation = evaluate_with(
            self.client, self.embedder.get(), sample_size=self.config.eval_sample_size,
            k=self.config.eval_k, batch_size=self.settings.embedding_batch_size,
        )
        report.retrieval_hit_rate = evaluation.hit_rate
        report.retrieval_sample_size = evaluation.sample_size

    def record(self) -> None:
        record_run(self.db, self.report)


def embed_validated_documents(
    settings: Settings,
    run_id: str,
    *,
    embedder: Embedder | None = None,
    config: PipelineConfig = PIPELINE_CONFIG,
) -> EmbeddingReport:
    """Bring Qdrant's features in line with MongoDB's validated documents; report what changed."""
    started = time.perf_counter()
    report = EmbeddingReport(
        run_id=run_id,
        embedding_model=settings.embedding_model_id,
        feature_version=feature_version(settings.embedding_model_id, embedding_variant(settings)),
        retrieval_k=config.eval_k,
    )
    with mongo_database(settings) as db, qdrant_client(settings) as client:
        ensure_collections(client, settings.embedding_dim)
        run = _Run(settings, db, client, LazyEmbedder(settings, embedder), report, config)
        run.embed_changed()
        run.remove_gone()
        run.evaluate()
        report.seconds = round(time.perf_counter() - started, 3)
        run.record()
    return report
