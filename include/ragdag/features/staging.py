"""Encoding one partition into staged vectors in the object store, and reading them back.

An encoding task reads its partition's plan (:mod:`ragdag.features.partitions`), fetches those
documents from MongoDB a page at a time, cleans and chunks them, embeds them in groups of about
``flush_chunks`` chunks and writes each group as one ``part-NNNNN.npz`` object (the chunk vectors,
float32, and a JSON of the documents' records, cleaned texts and chunks). Memory holds one group.
The partition's ``manifest.json`` goes last; the upsert task reads only partitions that have one.
It opens no Qdrant: encoding tasks run in parallel, on any worker that reaches MongoDB and the
object store.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.features.partitions import PartitionPlan, load_plan
from ragdag.features.source import fetch_documents
from ragdag.features.vector_store import DocumentFeatures
from ragdag.models import Chunk
from ragdag.text_safety import add_counts, sorted_counts

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.features.embedding import LazyEmbedder
    from ragdag.features.tokenizer import ModelTokenizer
    from ragdag.stores.object_store import ObjectStore


class EmptyDocument(BaseModel):
    document_id: str
    stored: bool  # a record of it was stored: counted as deleted when its chunks go


class StagedPartition(BaseModel):
    """The manifest: a staged partition, complete."""

    run_id: str
    partition: int
    digest: str
    feature_version: str
    model_id: str | None  # None when nothing was embedded
    parts: list[str]
    documents_embedded: int
    chunks: int
    empty: list[EmptyDocument]  # nothing left to embed after cleaning: their chunks go
    missing: int  # planned, but no longer accepted when fetched (the upsert's reconcile removes them)
    masked: dict[str, int] = {}  # secrets and personal data masked before chunking, by kind (ragdag.text_safety)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # what the document payload stores of a date
    return str(value)


def encode_part(items: list[DocumentFeatures]) -> bytes:
    """One group of embedded documents as one object."""
    import numpy as np

    meta = [
        {
            "document": dict(item.document),
            "cleaned_text": item.cleaned_text,
            "chunks": [c.model_dump() for c in item.chunks],
        }
        for item in items
    ]
    vectors = np.concatenate([item.vectors for item in items if item.vectors is not None]).astype(np.float32)
    buffer = io.BytesIO()
    meta_bytes = json.dumps(meta, default=_json_default, ensure_ascii=False).encode()
    np.savez(buffer, vectors=vectors, meta=np.frombuffer(meta_bytes, dtype=np.uint8))
    return buffer.getvalue()


def decode_part(data: bytes) -> list[DocumentFeatures]:
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        vectors = archive["vectors"]
        meta = json.loads(archive["meta"].tobytes())
    items, start = [], 0
    for entry in meta:
        chunks = [Chunk.model_validate(c) for c in entry["chunks"]]
        items.append(
            DocumentFeatures(
                document=entry["document"],
                cleaned_text=entry["cleaned_text"],
                chunks=chunks,
                vectors=vectors[start : start + len(chunks)],
            )
        )
        start += len(chunks)
    if start != len(vectors):
        raise ValueError(f"staged part holds {len(vectors)} vectors for {start} chunks")
    return items


def read_manifest(store: ObjectStore, plan: PartitionPlan) -> StagedPartition | None:
    """The partition's manifest, or None while it is not staged completely."""
    if not store.exists(plan.manifest_key):
        return None
    return StagedPartition.model_validate_json(store.get_bytes(plan.manifest_key))


def iter_parts(store: ObjectStore, manifest: StagedPartition) -> Iterator[list[DocumentFeatures]]:
    """The staged groups of a partition, one at a time."""
    for key in manifest.parts:
        yield decode_part(store.get_bytes(key))


class _Encoder:
    def __init__(
        self, store: ObjectStore, plan: PartitionPlan, embedder: LazyEmbedder, *, batch_size: int, flush_chunks: int
    ) -> None:
        self.store, self.plan, self.embedder = store, plan, embedder
        self.batch_size, self.flush_chunks = batch_size, flush_chunks
        self.group: list[DocumentFeatures] = []
        self.group_chunks = 0
        self.parts: list[str] = []
        self.documents = self.chunks = 0
        self.model_id: str | None = None

    def take(self, item: DocumentFeatures) -> None:
        self.group.append(item)
        self.group_chunks += len(item.chunks)
        if self.group_chunks >= self.flush_chunks:
            self.flush()

    def flush(self) -> None:
        group, self.group, self.group_chunks = self.group, [], 0
        if not group:
            return
        embedder = self.embedder.get()
        chunks = [c for item in group for c in item.chunks]
        vectors = embedder.embed(
            [c.text for c in chunks], batch_size=self.batch_size, token_counts=[c.token_count for c in chunks]
        )
        start = 0
        for item in group:
            item.vectors = vectors[start : start + len(item.chunks)]
            start += len(item.chunks)
        key = self.plan.part_key(len(self.parts))
        self.store.put_bytes(key, encode_part(group))
        self.parts.append(key)
        self.documents += len(group)
        self.chunks += len(chunks)
        self.model_id = embedder.model_id


def encode_partition(
    store: ObjectStore,
    db: Database,
    plan_key: str,
    embedder: LazyEmbedder,
    *,
    batch_size: int,
    flush_chunks: int,
    page_documents: int,
    prepare: Callable[[Mapping[str, Any], ModelTokenizer], DocumentFeatures],
) -> tuple[StagedPartition, bool]:
    """Stage one partition (or find it staged); the manifest, and whether this call encoded it.

    ``prepare`` cleans and chunks one stored document (:func:`ragdag.features.pipeline.prepare_document`).
    """
    plan = load_plan(store, plan_key)
    done = read_manifest(store, plan)
    if done is not None:
        return done, False
    encoder = _Encoder(store, plan, embedder, batch_size=batch_size, flush_chunks=flush_chunks)
    stored = {d.document_id: d.stored for d in plan.documents}
    empty: list[EmptyDocument] = []
    found = 0
    masked: Counter[str] = Counter()
    for start in range(0, len(plan.documents), page_documents):
        page = plan.documents[start : start + page_documents]
        for category in sorted({d.category for d in page}, key=lambda c: c.value):
            ids = [d.document_id for d in page if d.category == category]
            for document in sorted(fetch_documents(db, category, ids), key=lambda d: str(d["_id"])):
                found += 1
                document["category"] = category.value  # the collection decides, not the field
                item = prepare(document, embedder.get().tokenizer)
                add_counts(masked, item.masked)
                if item.chunks:
                    encoder.take(item)
                else:
                    empty.append(EmptyDocument(document_id=item.document_id, stored=stored[item.document_id]))
    encoder.flush()
    manifest = StagedPartition(
        run_id=plan.run_id,
        partition=plan.partition,
        digest=plan.digest,
        feature_version=plan.feature_version,
        model_id=encoder.model_id,
        parts=encoder.parts,
        documents_embedded=encoder.documents,
        chunks=encoder.chunks,
        empty=empty,
        missing=len(plan.documents) - found,
        masked=sorted_counts(masked),
    )
    store.put_bytes(plan.manifest_key, manifest.model_dump_json().encode())  # last: the partition is done
    return manifest, True
