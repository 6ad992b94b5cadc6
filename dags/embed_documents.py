"""
### embed_documents

The feature pipeline: validated documents become cleaned documents and embedded chunks in
**Qdrant** (`cleaned_documents`, `embedded_chunks`), the feature store that RAG retrieval and the
instruct datasets read.

- **Scheduled on:** `validated_documents`.
- **Reads:** validated documents in MongoDB.
- **Writes:** cleaned, chunked (token-aware) and embedded chunks (all-MiniLM-L6-v2, 384-d) with
  deterministic point ids; unchanged documents are skipped, changed ones replaced, deleted ones
  removed. Runs in the one-slot `qdrant_local` pool (Qdrant local mode opens a path from one
  process at a time).
- **Emits:** `embedded_chunks` with counts (embedded, skipped, chunks written / deleted) and the
  retrieval hit rate.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import EMBEDDED_CHUNKS, VALIDATED_DOCUMENTS
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of
from ragdag.settings import get_settings
from ragdag.stores.qdrant import QDRANT_POOL


@dag(schedule=[VALIDATED_DOCUMENTS], tags=[*TAGS, "features"], doc_md=__doc__, **DAG_KWARGS)
def embed_documents() -> None:
    @task(outlets=[EMBEDDED_CHUNKS], pool=QDRANT_POOL)
    def embed(**context):
        from ragdag.features import embed_validated_documents

        report = embed_validated_documents(get_settings(), run_id_of(context))
        yield Metadata(EMBEDDED_CHUNKS, report.model_dump(mode="json"))

    embed()


embed_documents()
