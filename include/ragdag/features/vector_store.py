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

No other module knows this layout: the dataset stage reads chunks through
:func:`read_chunk_payloads`, tests through :func:`iter_chunks` / :func:`iter_document_points`.

Crash safety (a task killed at any point, then run again): a document being written first has
every chunk carrying its id removed unless it is one of the new ones, whether or not a document
record exists (a first write killed before its record leaves chunks no record knows of); and
:func:`reconcile` walks the chunks' ``document_id`` payloads as well as the records, so chunks of
documents that are no longer accepted go even when no record was ever written.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ragdag.models import Chunk, chunk_point_id, content_hash

if TYPE_CHECKING:
    import numpy as np
    from qdrant_client import QdrantClient

    from ragdag.settings import Settings

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
    masked: Mapping[str, int] = field(default_factory=dict)  # what masking took out, by kind (not stored)

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
                    client.create_payload_index(name, name_of_field, field_schema=models.PayloadSchemaType.KEYWORD)


def _stored(point_id: Any, payload: Mapping[str, Any]) -> StoredDocument:
    return StoredDocument(
        document_id=str(point_id),
        category=str(payload.get("category", "")),
        content_hash=str(payload.get("content_hash", "")),
        feature_version=str(payload.get("feature_version", "")),
        chunk_count=int(payload.get("chunk_count", 0)),
    )


_STATE_FIELDS = ["category", "content_hash", "feature_version", "chunk_count"]


def stored_documents(client: QdrantClient, document_ids: Sequence[str]) -> dict[str, StoredDocument]:
    """The stored state of these documents (absent ids were never stored)."""
    if not document_ids:
        return {}
    points = client.retrieve(
        DOCUMENTS_COLLECTION, ids=list(document_ids), with_payload=_STATE_FIELDS, with_vectors=False
    )
    return {str(p.id): _stored(p.id, p.payload or {}) for p in points}


def _document_filter(document_ids: Sequence[str]) -> Any:
    from qdrant_client import models

    match = models.MatchAny(any=list(document_ids))
    return models.Filter(must=[models.FieldCondition(key="document_id", match=match)])


def _chunk_ids_of(client: QdrantClient, document_ids: Sequence[str]) -> set[str]:
    ids: set[str] = set()
    offset = None
    while True:
        points, offset = client.scroll(
            CHUNKS_COLLECTION,
            scroll_filter=_document_filter(document_ids),
            limit=SCROLL_PAGE,
            offset=offset,
            with_payload=False,
            with_vectors=False,
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
        batch = models.Batch(ids=ids[start:stop], vectors=vectors[start:stop].tolist(), payloads=payloads[start:stop])
        client.upsert(collection, points=batch)


def _chunk_payload(item: DocumentFeatures, chunk: Chunk, model_id: str, digest: str) -> dict[str, Any]:
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


def _document_payload(item: DocumentFeatures, model_id: str, feature_version: str) -> dict[str, Any]:
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
    model_id: str,
    feature_version: str,
) -> WriteResult:
    """Store embedded documents; remove every other chunk that carries their ids.

    Order matters for a crash at any point: new chunks first (readers never see a document with
    no chunks), then stale chunks (found by ``document_id``, so chunks of an earlier write that was
    killed before its record go too), then the document record, whose ``content_hash`` tells the
    next run the document is done. Until it is written, the next run redoes the document.
    """
    import numpy as np

    items = [item for item in items if item.chunks]
    if not items:
        return WriteResult(0, 0)
    old_ids = _chunk_ids_of(client, sorted({item.document_id for item in items}))
    ids: list[str] = []
    payloads: list[dict[str, Any]] = []
    for item in items:
        for chunk in item.chunks:
            digest = content_hash(chunk.text)
            ids.append(chunk_point_id(item.document_id, chunk.chunk_index, digest))
            payloads.append(_chunk_payload(item, chunk, model_id, digest))
    vectors = np.concatenate([item.vectors for item in items if item.vectors is not None])
    if len(vectors) != len(ids):
        raise ValueError(f"{len(ids)} chunks but {len(vectors)} vectors: embed every chunk before writing")
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


def delete_documents(client: QdrantClient, document_ids: Sequence[str]) -> int:
    """Remove documents (their records, if any) and all their chunks; return how many chunks went.

    Chunks are found by their ``document_id`` payload, not a record's count, so chunks left by an
    interrupted earlier write go too. Chunks first: a crash in between leaves a record, which the
    next run finds and deletes again.
    """
    if not document_ids:
        return 0
    ids = sorted(set(document_ids))
    chunk_ids = sorted(_chunk_ids_of(client, ids))
    _delete_ids(client, CHUNKS_COLLECTION, chunk_ids)
    _delete_ids(client, DOCUMENTS_COLLECTION, ids)
    return len(chunk_ids)


# --- reconciliation --------------------------------------------------------------------------

# Which of these document ids (of this category) may stay: the caller's view of what is accepted.
AcceptedIds = Callable[[str, Sequence[str]], set[str]]


@dataclass(frozen=True)
class ReconcileResult:
    documents_deleted: int  # document ids removed, with or without a record
    chunks_deleted: int


def _stored_document_ids(client: QdrantClient) -> Iterator[tuple[str, str]]:
    """(category, document id) of every chunk and every record, each pair once."""
    seen: set[tuple[str, str]] = set()
    for collection, id_of in (
        (DOCUMENTS_COLLECTION, lambda point: str(point.id)),
        (CHUNKS_COLLECTION, lambda point: str((point.payload or {}).get("document_id"))),
    ):
        for points in _scroll(client, collection, with_payload=["document_id", "category"]):
            for point in points:
                key = (str((point.payload or {}).get("category", "")), id_of(point))
                if key not in seen:
                    seen.add(key)
                    yield key


def reconcile(client: QdrantClient, accepted: AcceptedIds, page: int = SCROLL_PAGE) -> ReconcileResult:
    """Remove every document, and every chunk, whose document id ``accepted`` does not keep.

    Walks the chunks' document ids as well as the records, so chunks that no record knows of (a
    first write killed before its record, then the document deleted or refused) go too.
    """
    gone: list[str] = []
    pending: dict[str, list[str]] = {}

    def check(category: str) -> None:
        ids = pending.pop(category, [])
        if ids:
            keep = accepted(category, ids)
            gone.extend(doc_id for doc_id in ids if doc_id not in keep)

    for category, doc_id in _stored_document_ids(client):
        pending.setdefault(category, []).append(doc_id)
        if len(pending[category]) >= page:
            check(category)
    for category in list(pending):
        check(category)
    unique = sorted(set(gone))
    return ReconcileResult(documents_deleted=len(unique), chunks_deleted=delete_documents(client, unique))


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPoint:
    """One point as stored: its id, payload and (when asked) vector."""

    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None


def _scroll(
    client: QdrantClient,
    collection: str,
    *,
    with_payload: Any = True,
    with_vectors: bool = False,
    page: int = SCROLL_PAGE,
) -> Iterator[list[Any]]:
    if not client.collection_exists(collection):
        return
    offset = None
    while True:
        points, offset = client.scroll(
            collection, limit=page, offset=offset, with_payload=with_payload, with_vectors=with_vectors
        )
        if points:
            yield points
        if offset is None:
            return


def _points(collection: str, client: QdrantClient, with_vectors: bool) -> Iterator[StoredPoint]:
    for points in _scroll(client, collection, with_vectors=with_vectors):
        for p in points:
            vector = p.vector if isinstance(p.vector, list) else None
            yield StoredPoint(str(p.id), dict(p.payload or {}), vector)


def iter_chunks(client: QdrantClient, *, with_vectors: bool = False) -> Iterator[StoredPoint]:
    """Every embedded chunk (payload: see the module docstring)."""
    return _points(CHUNKS_COLLECTION, client, with_vectors)


def iter_document_points(client: QdrantClient, *, with_vectors: bool = False) -> Iterator[StoredPoint]:
    """Every cleaned-document record (payload: see the module docstring)."""
    return _points(DOCUMENTS_COLLECTION, client, with_vectors)


def count_points(client: QdrantClient) -> tuple[int, int]:
    """(documents, chunks) stored."""
    return tuple(  # type: ignore[return-value]
        client.count(name, exact=True).count if client.collection_exists(name) else 0
        for name in (DOCUMENTS_COLLECTION, CHUNKS_COLLECTION)
    )


def read_chunk_payloads(settings: Settings) -> list[dict[str, Any]]:
    """Every chunk's payload, by document id then chunk index; [] when nothing was embedded yet."""
    from ragdag.stores.qdrant import qdrant_client

    with qdrant_client(settings) as client:
        chunks = [point.payload for point in iter_chunks(client)]
    return sorted(chunks, key=lambda c: (str(c.get("document_id")), int(c.get("chunk_index", 0))))


# --- querying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredChunk:
    score: float
    payload: dict[str, Any]


def _equals_filter(fields: Mapping[str, str | None]) -> Any:
    from qdrant_client import models

    conditions = [
        models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in fields.items() if value
    ]
    return models.Filter(must=conditions) if conditions else None


def nearest_chunks(
    client: QdrantClient,
    vectors: Sequence[Sequence[float]],
    k: int,
    *,
    author_full_name: str | None = None,
    category: str | None = None,
    payload: Any = True,
) -> list[list[ScoredChunk]]:
    """The ``k`` chunks closest to each vector (optionally of one author or category)."""
    from qdrant_client import models

    if not vectors or not client.collection_exists(CHUNKS_COLLECTION):
        return [[] for _ in vectors]
    query_filter = _equals_filter({"author_full_name": author_full_name, "category": category})
    responses = client.query_batch_points(
        CHUNKS_COLLECTION,
        requests=[
            models.QueryRequest(query=list(v), limit=k, filter=query_filter, with_payload=payload) for v in vectors
        ],
    )
    return [[ScoredChunk(float(p.score), dict(p.payload or {})) for p in r.points] for r in responses]


def sample_documents(client: QdrantClient, size: int) -> list[StoredPoint]:
    """The first ``size`` document records in id order (ids are UUIDv5 hashes: a stable, unbiased
    sample), with their title and cleaned text."""
    if not client.collection_exists(DOCUMENTS_COLLECTION):
        return []
    points, _ = client.scroll(DOCUMENTS_COLLECTION, limit=size, with_payload=["title", "text"], with_vectors=False)
    return [StoredPoint(str(p.id), dict(p.payload)) for p in points if p.payload is not None]


def sample_chunks(client: QdrantClient, size: int) -> list[StoredPoint]:
    """The first ``size`` chunks in id order (ids are UUIDv5 hashes, so the sample is spread over
    documents and categories), with their text and vector."""
    if not client.collection_exists(CHUNKS_COLLECTION):
        return []
    points, _ = client.scroll(CHUNKS_COLLECTION, limit=size, with_payload=["text"], with_vectors=True)
    return [
        StoredPoint(str(p.id), dict(p.payload or {}), [float(x) for x in p.vector])  # type: ignore[union-attr]
        for p in points
        if isinstance(p.vector, list)
    ]
