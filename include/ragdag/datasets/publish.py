"""Build and publish a versioned instruct dataset (train/test JSONL + manifest) to object storage.

A version is named by the hash of its content, so rebuilding from unchanged features publishes
nothing new (idempotent) and the same inputs give the same version on every machine.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from ragdag import __version__
from ragdag.datasets.instruct import sample_from_chunk, split_samples
from ragdag.models import InstructSample
from ragdag.settings import Settings
from ragdag.stores.mongo import DOCUMENT_COLLECTIONS, RUNS, mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.stores.qdrant import qdrant_client

DATASETS_PREFIX = "instruct_datasets"
EMBEDDED_CHUNKS = "embedded_chunks"


class DatasetManifest(BaseModel):
    version: str
    created_at: datetime
    train_samples: int
    test_samples: int
    test_share: float
    seed: int
    train_uri: str
    test_uri: str
    manifest_uri: str
    source_documents: dict[str, str]  # document id -> content hash (lineage)
    embedding_models: list[str]
    built_by_run_id: str
    code_version: str
    published: bool  # False when this exact version already existed


def _read_chunks(settings: Settings) -> list[dict[str, Any]]:
    with qdrant_client(settings) as client:
        if not client.collection_exists(EMBEDDED_CHUNKS):
            return []
        chunks: list[dict[str, Any]] = []
        offset = None
        while True:
            points, offset = client.scroll(
                EMBEDDED_CHUNKS, limit=512, offset=offset, with_payload=True, with_vectors=False
            )
            chunks.extend(dict(p.payload or {}) for p in points)
            if offset is None:
                break
    return sorted(chunks, key=lambda c: (c["document_id"], c["chunk_index"]))


def _titles(settings: Settings, document_ids: set[str]) -> dict[str, str | None]:
    titles: dict[str, str | None] = {}
    with mongo_database(settings) as db:
        for name in DOCUMENT_COLLECTIONS:
            for doc in db[name].find({"_id": {"$in": sorted(document_ids)}}, {"title": 1}):
                titles[doc["_id"]] = doc.get("title")
    return titles


def _jsonl(samples: list[InstructSample]) -> bytes:
    return "".join(s.model_dump_json() + "\n" for s in samples).encode("utf-8")


def build_instruct_dataset(settings: Settings, run_id: str) -> DatasetManifest:
    chunks = _read_chunks(settings)
    if not chunks:
        raise RuntimeError("no embedded chunks in Qdrant: run embed_documents first")
    titles = _titles(settings, {c["document_id"] for c in chunks})
    samples = [sample_from_chunk(c, titles.get(c["document_id"])) for c in chunks]
    train, test = split_samples(samples, settings.dataset_test_share, settings.dataset_seed)
    train_bytes, test_bytes = _jsonl(train), _jsonl(test)
    digest = hashlib.sha256(train_bytes + b"\0" + test_bytes).hexdigest()[:16]
    version = f"v-{digest}"
    store = open_object_store(settings)
    base = f"{DATASETS_PREFIX}/{version}"
    manifest_key = f"{base}/manifest.json"
    if store.exists(manifest_key):
        existing = DatasetManifest.model_validate_json(store.get_bytes(manifest_key))
        store.put_bytes(f"{DATASETS_PREFIX}/LATEST", version.encode())
        return existing.model_copy(update={"published": False})
    manifest = DatasetManifest(
        version=version,
        created_at=datetime.now(UTC),
        train_samples=len(train),
        test_samples=len(test),
        test_share=settings.dataset_test_share,
        seed=settings.dataset_seed,
        train_uri=store.put_bytes(f"{base}/train.jsonl", train_bytes),
        test_uri=store.put_bytes(f"{base}/test.jsonl", test_bytes),
        manifest_uri=store.uri(manifest_key),
        source_documents={c["document_id"]: c["content_hash"] for c in chunks},
        embedding_models=sorted({str(c.get("embedding_model")) for c in chunks}),
        built_by_run_id=run_id,
        code_version=__version__,
        published=True,
    )
    # The manifest goes last: its presence marks a complete version.
    store.put_bytes(manifest_key, manifest.model_dump_json(indent=2).encode("utf-8"))
    store.put_bytes(f"{DATASETS_PREFIX}/LATEST", version.encode())
    with mongo_database(settings) as db:
        db[RUNS].insert_one({"stage": "dataset", "run_id": run_id, **json.loads(manifest.model_dump_json())})
    return manifest


def latest_dataset_version(settings: Settings) -> str:
    store = open_object_store(settings)
    if not store.exists(f"{DATASETS_PREFIX}/LATEST"):
        raise RuntimeError("no instruct dataset published yet: run build_instruct_dataset first")
    return store.get_bytes(f"{DATASETS_PREFIX}/LATEST").decode().strip()


def load_manifest(settings: Settings, version: str) -> DatasetManifest:
    store = open_object_store(settings)
    return DatasetManifest.model_validate_json(store.get_bytes(f"{DATASETS_PREFIX}/{version}/manifest.json"))

