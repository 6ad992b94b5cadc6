"""
### build_instruct_dataset

Builds a versioned **instruct dataset** from the feature store.

- **Scheduled on:** `embedded_chunks`.
- **Reads:** the embedded chunks in Qdrant and the documents' titles in MongoDB.
- **Writes:** `instruct_datasets/<version>/{train,test}.jsonl` and `manifest.json` (lineage:
  source documents and content hashes, embedding model, run id) to the object store (S3 or local
  disk). The version is a hash of the content: unchanged features publish nothing new.
- **Emits:** `instruct_dataset` with the version and sample counts.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import EMBEDDED_CHUNKS, INSTRUCT_DATASET
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of
from ragdag.settings import get_settings
from ragdag.stores.qdrant import QDRANT_POOL


@dag(schedule=[EMBEDDED_CHUNKS], tags=[*TAGS, "datasets"], doc_md=__doc__, **DAG_KWARGS)
def build_instruct_dataset() -> None:
    @task(outlets=[INSTRUCT_DATASET], pool=QDRANT_POOL)
    def build(**context):
        from ragdag.datasets.publish import build_instruct_dataset as build_dataset

        manifest = build_dataset(get_settings(), run_id_of(context))
        yield Metadata(
            INSTRUCT_DATASET,
            {
                "version": manifest.version,
                "train_samples": manifest.train_samples,
                "test_samples": manifest.test_samples,
                "manifest_uri": manifest.manifest_uri,
                "published": manifest.published,
            },
        )

    build()


build_instruct_dataset()
