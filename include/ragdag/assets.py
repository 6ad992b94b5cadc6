"""The Assets that chain the five DAGs. Light to import: DAG files read these at parse time.

URIs name the logical data set (host names as in docker-compose.yaml); where the data really lives
is decided by the connections and settings, so the same chain runs on the embedded defaults.

The schemes are the systems with Airflow's ``x-`` prefix for schemes of one's own: Airflow leaves
those URIs as written. For any other scheme (``s3``, ``mongodb``…) it loads every provider's URI
handlers to normalise them, and the Amazon provider's handler imports boto3: about half a second
at every parse of every DAG file. OpenLineage names the datasets without the prefix
(:func:`ragdag.observability.openlineage.ol_dataset`).
"""

from __future__ import annotations

from airflow.sdk import Asset

from ragdag.stages import Stage

RAW_DOCUMENTS = Asset(uri="x-mongodb://mongodb:27017/ragdag/raw_documents", name="raw_documents")
VALIDATED_DOCUMENTS = Asset(uri="x-mongodb://mongodb:27017/ragdag/validated_documents", name="validated_documents")
EMBEDDED_CHUNKS = Asset(uri="x-qdrant://qdrant:6333/embedded_chunks", name="embedded_chunks")
INSTRUCT_DATASET = Asset(uri="x-s3://ragdag/instruct_datasets", name="instruct_dataset")
TRAINED_MODEL = Asset(uri="x-s3://ragdag/models", name="trained_model")

CHAIN = (RAW_DOCUMENTS, VALIDATED_DOCUMENTS, EMBEDDED_CHUNKS, INSTRUCT_DATASET, TRAINED_MODEL)

# The DAG that emits each Asset: with CHAIN, the one place that knows the order of the five DAGs
# (the demo, the e2e harness and the tests derive theirs from it; tests/test_assets.py checks it
# against the DAGs' outlets).
PRODUCING_DAG: dict[str, str] = {
    RAW_DOCUMENTS.name: "crawl_sources",
    VALIDATED_DOCUMENTS.name: "validate_documents",
    EMBEDDED_CHUNKS.name: "embed_documents",
    INSTRUCT_DATASET.name: "build_instruct_dataset",
    TRAINED_MODEL.name: "train_model",
}

CHAIN_DAG_IDS: tuple[str, ...] = tuple(PRODUCING_DAG[asset.name] for asset in CHAIN)
"""The DAG ids in chain order: the first is triggered (cron or REST), each later one by the Asset of the one before."""

STAGE_OF_DAG: dict[str, Stage] = dict(zip(CHAIN_DAG_IDS, Stage, strict=True))
"""The stage each chain DAG runs (``Stage`` is in chain order): the ``stage`` of its run records."""
