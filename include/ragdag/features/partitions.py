"""The feature stage's partitions: which pending documents each encoding task takes, and where it
stages what it made.

A run first *plans*: every accepted document that is not stored as it is now (new, changed, or
made under another feature version) is pending, and goes to partition ``hash(document id) mod
partitions``. The partitions are sized by the work: as many as the pending chunks allow at
``RAGDAG_EMBEDDING_MIN_PARTITION_CHUNKS`` each, at most ``RAGDAG_EMBEDDING_PARTITIONS``, so a small
run is one task (one model load) and a large one spreads over every worker. Chunks are estimated
from the pending documents' text length (counted by the database server, no text is read), since
nothing is chunked yet. Each non-empty partition's plan (its documents, their content
hashes, whether a record of them is stored) is written to the object store, and the encoding task
of that partition reads it from there, so tasks on other machines (S3 in production) share it.

Staged objects of one partition live under one prefix keyed by the run, the partition and a
digest of the partition's document set and content hashes (and the feature version):
``feature_staging/<run>/p<partition>-<digest>/``. A partition is staged completely once its
``manifest.json`` exists: it is written last, so a killed encoding task leaves no manifest, and its
retry redoes that partition alone; a partition whose manifest exists is not encoded again. Nothing
here touches Qdrant but the plan's read of what is stored.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ragdag.documents import collection_name
from ragdag.features.source import iter_document_refs
from ragdag.features.vector_store import stored_documents
from ragdag.models import Category
from ragdag.stores.object_store import run_folder

if TYPE_CHECKING:
    from pymongo.database import Database
    from qdrant_client import QdrantClient

    from ragdag.stores.object_store import ObjectStore

log = logging.getLogger(__name__)

STAGING_PREFIX = "feature_staging"
# Characters of text per chunk, to size partitions before anything is chunked. Chunks end at the
# model's 256 tokens or sooner, at a heading or a code block: measured with the stage's chunking,
# the demo's sample pages average 880 characters per chunk, the 63 shared article pages 770.
# Erring low overestimates the chunks, which only spreads a run a little sooner.
CHARS_PER_CHUNK = 750


def partition_of(document_id: str, partitions: int) -> int:
    """The partition of a document: stable across runs, machines and Python processes."""
    return int(hashlib.sha256(document_id.encode()).hexdigest()[:12], 16) % partitions


def run_prefix(run_id: str) -> str:
    """Where every staged object of one run lives (cleaned after the run's upsert)."""
    return f"{STAGING_PREFIX}/{run_folder(run_id)}"


def staged_run_prefixes(keys: Iterable[str]) -> set[str]:
    """The run prefixes (see `run_prefix`) that object keys under the staging area belong to."""
    return {
        "/".join(key.split("/")[:2]) for key in keys if key.startswith(f"{STAGING_PREFIX}/") and key.count("/") >= 2
    }


def run_plan_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/run.json"


class PendingDocument(BaseModel):
    document_id: str
    category: Category
    content_hash: str
    stored: bool  # a record of an earlier version is in Qdrant (its chunks go if nothing is left)
    chars: int = 0  # of its text (content and files): sizes the partitions, see `estimated_chunks`

    @property
    def estimated_chunks(self) -> int:
        return math.ceil(self.chars / CHARS_PER_CHUNK)


class PartitionPlan(BaseModel):
    """What one encoding task does."""

    run_id: str
    partition: int
    partitions: int
    feature_version: str
    documents: list[PendingDocument]

    @property
    def digest(self) -> str:
        """Of the document set, their content hashes and the feature version."""
        h = hashlib.sha256(f"{self.feature_version}|{self.partitions}".encode())
        for doc in sorted(self.documents, key=lambda d: d.document_id):
            h.update(f"\n{doc.document_id}:{doc.content_hash}:{int(doc.stored)}".encode())
        return h.hexdigest()[:16]

    @property
    def prefix(self) -> str:
        return f"{run_prefix(self.run_id)}/p{self.partition:03d}-{self.digest}"

    @property
    def plan_key(self) -> str:
        return f"{self.prefix}/plan.json"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}/manifest.json"

    def part_key(self, index: int) -> str:
        return f"{self.prefix}/part-{index:05d}.npz"


class PartitionRef(BaseModel):
    """What the plan task hands to one mapped encoding task (small: an XCom)."""

    partition: int
    documents: int
    plan_key: str


class RunPlan(BaseModel):
    """The plan task's result: the partitions to encode and the documents found current."""

    run_id: str
    feature_version: str
    partitions: list[PartitionRef]
    documents_skipped: int  # stored as they are: nothing to do
    estimated_chunks: int = 0  # of the pending documents, from their text length


def _is_current(stored: object, digest: str, version: str) -> bool:
    return (
        stored is not None
        and getattr(stored, "content_hash", None) == digest
        and getattr(stored, "feature_version", None) == version
    )


def _text_chars(db: Database, category: Category, document_ids: list[str]) -> dict[str, int]:
    """Characters of these documents' text (content and repository files), counted by the server."""
    if not document_ids:
        return {}
    files_chars = {"$map": {"input": {"$ifNull": ["$files", []]}, "in": {"$strLenCP": "$$this.content"}}}
    chars = {"$add": [{"$strLenCP": {"$ifNull": ["$content", ""]}}, {"$sum": files_chars}]}
    rows = db[collection_name(category)].aggregate(
        [{"$match": {"_id": {"$in": document_ids}}}, {"$project": {"chars": chars}}]
    )
    return {str(row["_id"]): int(row["chars"]) for row in rows}


def pending_documents(
    db: Database, client: QdrantClient, feature_version: str, page: int
) -> tuple[list[PendingDocument], int]:
    """Every accepted document whose stored features are missing or stale; and how many are current."""
    pending: list[PendingDocument] = []
    skipped = 0
    for refs in iter_document_refs(db, page):
        stored = stored_documents(client, [r.document_id for r in refs])
        stale = []
        for ref in refs:
            if _is_current(stored.get(ref.document_id), ref.content_hash, feature_version):
                skipped += 1
            else:
                stale.append(ref)
        chars = _text_chars(db, refs[0].category, [ref.document_id for ref in stale])  # a page is one category
        pending.extend(
            PendingDocument(
                document_id=ref.document_id,
                category=ref.category,
                content_hash=ref.content_hash,
                stored=stored.get(ref.document_id) is not None,
                chars=chars.get(ref.document_id, 0),
            )
            for ref in stale
        )
    return pending, skipped


def partition_count(estimated_chunks: int, max_partitions: int, min_partition_chunks: int) -> int:
    """As many partitions as hold ``min_partition_chunks`` each, between 1 and ``max_partitions``."""
    return max(1, min(max_partitions, estimated_chunks // min_partition_chunks))


def split(
    run_id: str, feature_version: str, documents: Iterable[PendingDocument], partitions: int
) -> list[PartitionPlan]:
    """The non-empty partitions of these documents, in partition order, documents by category and id."""
    groups: dict[int, list[PendingDocument]] = {}
    for doc in documents:
        groups.setdefault(partition_of(doc.document_id, partitions), []).append(doc)
    return [
        PartitionPlan(
            run_id=run_id,
            partition=index,
            partitions=partitions,
            feature_version=feature_version,
            documents=sorted(groups[index], key=lambda d: (d.category.value, d.document_id)),
        )
        for index in sorted(groups)
    ]


def plan_run(
    store: ObjectStore,
    db: Database,
    client: QdrantClient,
    run_id: str,
    feature_version: str,
    *,
    partitions: int,
    min_partition_chunks: int,
    page: int,
) -> RunPlan:
    """Find the pending documents, split them into at most ``partitions`` partitions of at least
    ``min_partition_chunks`` estimated chunks, write each partition's plan and the run's to the store."""
    pending, skipped = pending_documents(db, client, feature_version, page)
    chunks = sum(doc.estimated_chunks for doc in pending)
    count = partition_count(chunks, partitions, min_partition_chunks)
    if pending:
        log.info(
            "%d pending documents, about %d chunks: %d partition(s) (at least %d chunks each, at most %d)",
            len(pending),
            chunks,
            count,
            min_partition_chunks,
            partitions,
        )
    refs = []
    for plan in split(run_id, feature_version, pending, count):
        if not store.exists(plan.plan_key):  # the same key holds the same plan: keep the first
            store.put_bytes(plan.plan_key, plan.model_dump_json().encode())
        refs.append(PartitionRef(partition=plan.partition, documents=len(plan.documents), plan_key=plan.plan_key))
    run_plan = RunPlan(
        run_id=run_id,
        feature_version=feature_version,
        partitions=refs,
        documents_skipped=skipped,
        estimated_chunks=chunks,
    )
    store.put_bytes(run_plan_key(run_id), run_plan.model_dump_json().encode())  # a re-planned run: the newest
    return run_plan


def load_run_plan(store: ObjectStore, run_id: str) -> RunPlan:
    key = run_plan_key(run_id)
    if not store.exists(key):
        raise RuntimeError(f"run {run_id} has no plan ({key}): its plan task did not finish")
    return RunPlan.model_validate_json(store.get_bytes(key))


def load_plan(store: ObjectStore, plan_key: str) -> PartitionPlan:
    plan = PartitionPlan.model_validate_json(store.get_bytes(plan_key))
    if plan.plan_key != plan_key:
        raise ValueError(f"staged plan {plan_key} holds another partition's documents ({plan.plan_key})")
    return plan
