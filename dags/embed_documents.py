"""
### embed_documents

The feature pipeline: validated documents become cleaned documents and embedded chunks in
**Qdrant** (`cleaned_documents`, `embedded_chunks`), the feature store that RAG retrieval and the
instruct datasets read.

- **Scheduled on:** `validated_documents`.
- **Reads:** validated documents in MongoDB.
- **Does:** `plan` finds the pending documents (new or changed since they were stored) and splits
  them by a hash of the document id into partitions sized by the work (at least
  `RAGDAG_EMBEDDING_MIN_PARTITION_CHUNKS` estimated chunks each, at most `RAGDAG_EMBEDDING_PARTITIONS`:
  the sample data is one partition); `encode` (one
  mapped task per partition, on the Celery queue `embedding`) cleans, masks secrets and personal
  data (`ragdag.text_safety`), chunks (token-aware) and embeds its partition (all-MiniLM-L6-v2,
  384-d) and stages the vectors in the object store (`feature_staging/<run>/`): a failed
  partition retries alone, a staged one is not encoded again.
  `embed` upserts the staged vectors with deterministic point ids, replaces changed documents'
  chunks, removes those of documents no longer accepted, checks retrieval and drift, then deletes
  the staging. `plan` and `embed` open Qdrant and run in the one-slot `qdrant_local` pool (Qdrant
  local mode opens a path from one process at a time); `encode` never opens it.
- **Emits:** `embedded_chunks` with counts (embedded, skipped, chunks written / deleted, `masked`
  by kind), the retrieval hit rate and the drift p-value.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import EMBEDDED_CHUNKS, VALIDATED_DOCUMENTS
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of
from ragdag.settings import get_settings
from ragdag.stores.qdrant import QDRANT_POOL

EMBEDDING_QUEUE = "embedding"  # the Celery queue of the heavier workers (docker-compose.yaml)


@dag(schedule=[VALIDATED_DOCUMENTS], tags=[*TAGS, "features"], doc_md=__doc__, **DAG_KWARGS)
def embed_documents() -> None:
    @task(pool=QDRANT_POOL)
    def plan(**context) -> list[dict]:
        """The pending documents, one staged plan per non-empty partition (and the run's plan)."""
        from ragdag.features.pipeline import plan_embedding

        run_plan = plan_embedding(get_settings(), run_id_of(context))
        return [ref.model_dump(mode="json") for ref in run_plan.partitions]

    @task(queue=EMBEDDING_QUEUE, map_index_template="{{ partition_name }}")
    def encode(partition: dict) -> dict:
        from airflow.sdk import get_current_context

        from ragdag.features.pipeline import encode_embedding_partition

        get_current_context()["partition_name"] = f"partition {partition['partition']}"
        manifest, encoded = encode_embedding_partition(get_settings(), partition["plan_key"])
        return {
            "partition": manifest.partition,
            "documents_embedded": manifest.documents_embedded,
            "chunks": manifest.chunks,
            "reused": not encoded,
        }

    # Runs when nothing was pending too (encode is then skipped): deletes and checks still happen.
    @task(outlets=[EMBEDDED_CHUNKS], pool=QDRANT_POOL, trigger_rule="none_failed")
    def embed(**context):
        from ragdag.features.drift import drift_extra, record_embed_drift
        from ragdag.features.pipeline import clean_staging, finish_embedding
        from ragdag.observability.lineage import trained_dataset
        from ragdag.observability.monitoring import check_embed_run

        settings = get_settings()
        report = finish_embedding(settings, run_id_of(context))  # the run's plan, from the object store
        drift = record_embed_drift(settings, report.run_id, trained_dataset(settings))
        check_embed_run(settings, context, report, drift)
        clean_staging(settings, report.run_id)
        yield Metadata(EMBEDDED_CHUNKS, {**report.model_dump(mode="json"), **drift_extra(drift)})

    encode.expand(partition=plan()) >> embed()


embed_documents()
