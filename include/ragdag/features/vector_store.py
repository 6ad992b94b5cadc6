"""The feature store layout in Qdrant and every read and write the feature stage makes to it.

Two collections, both cosine over the embedding model's dimension:

- ``embedded_chunks``: one point per chunk, id ``chunk_point_id(document id, chunk index,
  chunk hash)``, payload ``author_id, author_full_name, category, document_id, url, chunk_index, text,
  content_hash`` (of the whole document), ``chunk_hash, token_count, embedding_model``; keyword
  indexes on the fields that filters use.
- ``cleaned_documents``: one point per document, id = the document id, payload = the cleaned text and
  metadata, plus ``content_hash``, ``feature_version`` and ``chunk_count``: the record of what is
  stored, read to skip unchanged documents. Its vector is the normalized mean of the document's
  chunk vectors (a document-level embedding, free to compute), not a dummy: documents can be
  searched and compared too. It is written last, so it only exists once the chunks are complete.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ragdag.models import Chunk, chunk_point_id, content_hash

if TYPE_CHECKING:
    import numpy as np
    from qdrant_client import QdrantClient

CHUNKS_COLLECTION = "embedded_chunks"
DOCUMENTS_COLLECTION = "cleaned_documents"
INDEXED_FIELDS: Mapping[str, tuple[str, ...]] = {
    CHUNKS_COLLECTION: ("author_full_name", "author_id", "category", "document_id"),
    DOCUMENTS_COLLECTION: ("author_full_name", "author_id", "category"),
}
WRITE_BATCH = 256  # points per request: bounded request size against a Qdrant server
SCROLL_PAGE = 1024


@dataclass(frozen=True)
class StoredDocument:
    """What the feature store holds for one document."""

    document_id: str
    category: str
    content_hash: str
    feature_version: str
    chunk_count: int


@dataclass
class DocumentFeatures:
    """One document on its way into the store: its record, cleaned text, chunks, then vectors."""

    document: Mapping[str, Any]  # the MongoDB record (``content`` is not needed any more)
    cleaned_text: str
    chunks: list[Chunk]
    vectors: np.ndarray | None = field(default=None, repr=False)

    @property
    def document_id(self) -> str:
        return str(self.document["_id"])


def ensure_collections(client: QdrantClient, dim: int) -> None:
    """Create both collections and their payload indexes (idempotent); refuse a dimension change."""
    from qdrant_client import models

    for name, fields in INDEXED_FIELDS.items():
        if not client.collection_exists(name):
            client.create_collection(
                name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
        info = client.get_collection(name)
        vectors = info.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size != dim:
            raise ValueError(
                f"Qdrant collection {name!r} holds {size}-d vectors but the embedding model gives "
                f"{dim}-d: delete the collection to rebuild it, or set RAGDAG_EMBEDDING_MODEL_ID "
                "back to the model it was built with"
            )
        existing = set(info.payload_schema or {})
        with warnings.catch_warnings():
            # Local mode keeps but does not use payload indexes; a server does. Say it once, here.
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            for name_of_field in fields:
                if name_of_field not in existing:
                    client.create_payload_index(
                        name, name_of_field, field_schema=models.PayloadSchemaType.KEYWORD
                    )


def _stored(point_id: Any, payload: Mapping[str, Any]) -> StoredDocument:
    return StoredDocument(
        document_id=str(point_id),
        category=str(payload.get("category", "")),
        content_hash=str(payload.get("content_hash", "")),
        feature_version=str(payload.get("feature_version", "")),
        chunk_count=int(payload.get("chunk_count", 0)),
    )


_STATE_FIELDS = ["category", "content_hash", "feature_version", "chunk_count"]


def stored_documents(
    client: QdrantClient, document_ids: Sequence[str]
) -> dict[str, StoredDocument]:
    """The stored state of these documents (absent ids were never stored)."""
    if not document_ids:
        return {}
    points = client.retrieve(
        DOCUMENTS_COLLECTION, ids=list(document_ids), with_payload=_STATE_FIELDS, with_vectors=False
    )
    return {str(p.id): _stored(p.id, p.payload or {}) for p in points}


def iter_stored_documents(
    client: QdrantClient, page: int = SCROLL_PAGE
) -> Iterator[list[StoredDocument]]:
    """Every stored document, a page at a time."""
    offset = None
    while True:
        points, offset = client.scroll(
            DOCUMENTS_COLLECTION, limit=page, offset=offset,
            with_payload=_STATE_FIELDS, with_vectors=False,
        )
        if points:
            yield [_stored(p.id, p.payload or {}) for p in points]
        if offset is None:
            return


def _document_filter(document_ids: Sequence[str]) -> Any:
    from qdrant_client import models

    match = models.MatchAny(any=list(document_ids))
    return models.Filter(must=[models.FieldCondition(key="document_id", match=match)])


def _chunk_ids_of(client: QdrantClient, document_ids: Sequence[str]) -> set[str]:
    ids: set[str] = set()
    offset = None
    while True:
        points, offset = client.scroll(
            CHUNKS_COLLECTION, scroll_filter=_document_filter(document_ids), limit=SCROLL_PAGE,
            offset=offset, with_payload=False, with_vectors=False,
        )
        ids.update(str(p.id) for p in points)
        if offset is None:
            return ids


def _delete_ids(client: QdrantClient, collection: str, ids: Sequence[str]) -> None:
    from qdrant_client import models

    for start in range(0, len(ids), WRITE_BATCH):
        batch = list(ids[start : start + WRITE_BATCH])
        client.delete(collection, points_selector=models.PointIdsList(points=batch))


def _upsert(
    client: QdrantClient,
    collection: str,
    ids: list[str],
    vectors: np.ndarray,
    payloads: list[dict[str, Any]],
) -> None:
    from qdrant_client import models

    for start in range(0, len(ids), WRITE_BATCH):
        stop = start + WRITE_BATCH
        batch = models.Batch(
            ids=ids[start:stop], vectors=vectors[start:stop].tolist(), payloads=payloads[start:stop]
        )
        client.upsert(collection, points=batch)


def _chunk_payload(
    item: DocumentFeatures, chunk: Chunk, model_id: str, digest: str
) -> dict[str, Any]:
    doc = item.document
    return {
        "author_id": doc.get("author_id"),
        "author_full_name": doc.get("author_full_name"),
        "category": doc.get("category"),
        "document_id": item.document_id,
        "url": doc.get("url"),
        "platform": doc.get("platform"),
        "chunk_index": chunk.chunk_index,
        "text": chunk.text,
        "token_count": chunk.token_count,
        "content_hash": doc.get("content_hash"),
        "chunk_hash": digest,
        "embedding_model": model_id,
    }


def _document_payload(
    item: DocumentFeatures, model_id: str, feature_version: str
) -> dict[str, Any]:
    doc = item.document
    published = doc.get("published_at")
    return {
        "document_id": item.document_id,
        "url": doc.get("url"),
        "title": doc.get("title"),
        "author_id": doc.get("author_id"),
        "author_full_name": doc.get("author_full_name"),
        "category": doc.get("category"),
        "platform": doc.get("platform"),
        "language": doc.get("language"),
        "published_at": published.isoformat() if isinstance(published, datetime) else published,
        "version": doc.get("version"),
        "text": item.cleaned_text,
        "content_hash": doc.get("content_hash"),
        "feature_version": feature_version,
        "embedding_model": model_id,
        "chunk_count": len(item.chunks),
        "embedded_at": datetime.now(UTC).isoformat(),
    }


@dataclass(frozen=True)
class WriteResult:
    chunks_written: int
    chunks_deleted: int


def write_features(
    client: QdrantClient,
    items: Sequence[DocumentFeatures],
    *,
    replaced: set[str],
    model_id: str,
    feature_version: str,
) -> WriteResult:
    """Store embedded documents; for ``replaced`` ones, remove the chunks the new version lacks.

    Order matters for a crash at any point: new chunks first (readers never see a document with
    no chunks), then stale chunks, then the document record, whose ``content_hash`` tells the
    next run the document is done. Until it is written, the next run redoes the document.
    """
    import numpy as np

    items = [item for item in items if item.chunks]
    if not items:
        return WriteResult(0, 0)
    replaced_here = sorted(replaced & {item.document_id for item in items})
    old_ids = _chunk_ids_of(client, replaced_here) if replaced_here else set()
    ids: list[str] = []
    payloads: list[dict[str, Any]] = []
    for item in items:
        for chunk in item.chunks:
            digest = content_hash(chunk.text)
            ids.append(chunk_point_id(item.document_id, chunk.chunk_index, digest))
            payloads.append(_chunk_payload(item, chunk, model_id, digest))
    vectors = np.concatenate([item.vectors for item in items if item.vectors is not None])
    if len(vectors) != len(ids):
        raise ValueError(
            f"{len(ids)} chunks but {len(vectors)} vectors: embed every chunk before writing"
        )
    _upsert(client, CHUNKS_COLLECTION, ids, vectors, payloads)
    stale = sorted(old_ids - set(ids))
    _delete_ids(client, CHUNKS_COLLECTION, stale)
    means = np.stack([item.vectors.mean(axis=0) for item in items if item.vectors is not None])
    means /= np.linalg.norm(means, axis=1, keepdims=True).clip(min=1e-12)
    _upsert(
        client,
        DOCUMENTS_COLLECTION,
        [item.document_id for item in items],
        means,
        [_document_payload(item, model_id, feature_version) for item in items],
    )
    return WriteResult(chunks_written=len(ids), chunks_deleted=len(stale))


def delete_documents(client: QdrantClient, stored: Sequence[StoredDocument]) -> int:
    """Remove documents and all their chunks; return how many chunks went.

    Chunks are found by their ``document_id`` payload, not the stored count, so chunks left by an
    interrupted earlier write go too.
    """
    if not stored:
        return 0
    document_ids = [s.document_id for s in stored]
    chunk_ids = sorted(_chunk_ids_of(client, document_ids))
    _delete_ids(client, CHUNKS_COLLECTION, chunk_ids)
    _delete_ids(client, DOCUMENTS_COLLECTION, document_ids)
    return len(chunk_ids)
