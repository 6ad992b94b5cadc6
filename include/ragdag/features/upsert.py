"""The short last step of the feature stage: staged partitions into Qdrant.

Each staged group goes through :func:`ragdag.features.vector_store.write_features` as before
(deterministic point ids, new chunks first, then the document's stale chunks, its record last), so
a killed upsert re-run writes the same store; documents left empty after cleaning lose their
chunks. One group in memory per writer. On Qdrant local mode one writer (the ``qdrant_local``
pool's one slot holds the folder); against a server, partitions are written by several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragdag.features.staging import StagedPartition, iter_parts
from ragdag.features.vector_store import delete_documents, write_features

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from ragdag.stores.object_store import ObjectStore


@dataclass
class UpsertResult:
    documents_embedded: int = 0
    documents_empty: int = 0
    documents_deleted: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0

    def add(self, other: UpsertResult) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def upsert_partition(
    client: QdrantClient, store: ObjectStore, manifest: StagedPartition, *, feature_version: str
) -> UpsertResult:
    """Write one staged partition: its groups, then the deletes of its empty documents."""
    if manifest.feature_version != feature_version:
        raise ValueError(
            f"partition {manifest.partition} was staged for feature version {manifest.feature_version}, "
            f"the run writes {feature_version}"
        )
    result = UpsertResult()
    for items in iter_parts(store, manifest):
        written = write_features(client, items, model_id=str(manifest.model_id), feature_version=feature_version)
        result.documents_embedded += len(items)
        result.chunks_written += written.chunks_written
        result.chunks_deleted += written.chunks_deleted
    if manifest.empty:
        # Chunks an empty document had (a record says so, or a killed run left some) go.
        result.chunks_deleted += delete_documents(client, [d.document_id for d in manifest.empty])
        result.documents_empty += len(manifest.empty)
        result.documents_deleted += sum(d.stored for d in manifest.empty)
    return result


def upsert_staged(
    client: QdrantClient,
    store: ObjectStore,
    manifests: Sequence[StagedPartition],
    *,
    feature_version: str,
    workers: int = 1,
) -> UpsertResult:
    """Write every staged partition; ``workers`` > 1 writes partitions concurrently (a server only)."""
    total = UpsertResult()
    if workers <= 1 or len(manifests) <= 1:
        for manifest in manifests:
            total.add(upsert_partition(client, store, manifest, feature_version=feature_version))
        return total
    lock = threading.Lock()

    def one(manifest: StagedPartition) -> None:
        result = upsert_partition(client, store, manifest, feature_version=feature_version)
        with lock:
            total.add(result)

    with ThreadPoolExecutor(max_workers=min(workers, len(manifests)), thread_name_prefix="qdrant-upsert") as pool:
        for future in [pool.submit(one, m) for m in manifests]:
            future.result()  # the first failure fails the task
    return total
