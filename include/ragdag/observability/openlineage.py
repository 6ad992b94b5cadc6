"""OpenLineage for the bundle: events of every task, with the MongoDB / Qdrant / S3 data they touch.

The OpenLineage provider emits a START and a COMPLETE (or FAIL) event per task; which datasets a
task read and wrote it learns from the extractor configured here (``[openlineage] extractors``):
:class:`ragdag.observability.openlineage_extractor.RagdagTaskExtractor` turns the task's Asset ``inlets`` / ``outlets`` into OpenLineage
datasets (``mongodb://host:port`` + ``db.collection``, ``qdrant://host:port`` + collection,
``s3://bucket`` + key prefix), plus the store collections of each stage from :data:`STAGE_STORES`
(the Assets name logical sets; these are the collections behind them). The provider's own
converters know none of the ``mongodb`` / ``qdrant`` schemes.

Where the events go is the transport: the embedded default writes them as JSON lines to
``<data_dir>/openlineage/events.jsonl`` (:func:`openlineage_env`); ``docker-compose.yaml`` points the
transport at Marquez. Importing this module does not import Airflow: the configuration must be in
the environment before Airflow loads its plugins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from openlineage.client.event_v2 import Dataset

    from ragdag.settings import Settings

NAMESPACE = "ragdag"
MONGO = "mongodb://mongodb:27017/ragdag"
QDRANT = "qdrant://qdrant:6333"
S3 = "s3://ragdag"

# (dag_id, task_id) -> (reads, writes): the store collections behind each stage's Assets.
STAGE_STORES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("crawl_sources", "crawl"): (
        (),
        (f"{MONGO}/articles", f"{MONGO}/posts", f"{MONGO}/repositories", f"{MONGO}/authors", f"{MONGO}/crawl_errors"),
    ),
    ("validate_documents", "validate"): (
        (f"{MONGO}/articles", f"{MONGO}/posts", f"{MONGO}/repositories"),
        (f"{MONGO}/articles", f"{MONGO}/posts", f"{MONGO}/repositories", f"{MONGO}/quarantine", f"{S3}/validation"),
    ),
    ("embed_documents", "plan"): (
        (f"{MONGO}/articles", f"{MONGO}/posts", f"{MONGO}/repositories", f"{QDRANT}/cleaned_documents"),
        (f"{S3}/feature_staging",),
    ),
    ("embed_documents", "encode"): ((f"{S3}/feature_staging",), (f"{S3}/feature_staging",)),
    ("embed_documents", "embed"): (
        (f"{S3}/feature_staging",),
        (f"{QDRANT}/cleaned_documents", f"{QDRANT}/embedded_chunks", f"{S3}/drift/snapshots"),
    ),
    ("build_instruct_dataset", "build"): (
        (f"{QDRANT}/embedded_chunks", f"{MONGO}/articles", f"{MONGO}/posts", f"{MONGO}/repositories"),
        (f"{S3}/instruct_datasets",),
    ),
    ("train_model", "train_local"): ((f"{S3}/instruct_datasets",), (f"{S3}/models",)),
    ("train_model", "evaluate"): ((f"{S3}/instruct_datasets", f"{S3}/models"), (f"{MONGO}/model_registry",)),
    ("train_model", "register"): ((f"{MONGO}/model_registry",), (f"{MONGO}/model_registry",)),
}


def ol_dataset(uri: str) -> Dataset:
    """The OpenLineage dataset of a store URI (namespace = the server, name = the data inside it)."""
    from openlineage.client.event_v2 import Dataset

    parts = urlsplit(uri)
    path = parts.path.strip("/")
    scheme = parts.scheme.removeprefix("x-")  # the Assets' own schemes (ragdag.assets)
    if scheme == "mongodb":
        return Dataset(namespace=f"mongodb://{parts.netloc}", name=path.replace("/", ".", 1))
    return Dataset(namespace=f"{scheme}://{parts.netloc}", name=path)


def _uris(objects: Any) -> list[str]:
    return [uri for obj in objects or [] if (uri := getattr(obj, "uri", None))]


def task_datasets(dag_id: str, task_id: str, inlets: Any, outlets: Any) -> tuple[list[Dataset], list[Dataset]]:
    reads, writes = STAGE_STORES.get((dag_id, task_id), ((), ()))
    inputs = list(dict.fromkeys([*_uris(inlets), *reads]))
    outputs = list(dict.fromkeys([*_uris(outlets), *writes]))
    return [ol_dataset(u) for u in inputs], [ol_dataset(u) for u in outputs]


def openlineage_env(data_dir: Path) -> dict[str, str]:
    """Airflow configuration (as environment variables) of the embedded default: the file transport."""
    events = events_file(data_dir)
    events.parent.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": "ragdag.observability.openlineage_extractor.RagdagTaskExtractor",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
    }


def events_file(data_dir: Path) -> Path:
    return data_dir / "openlineage" / "events.jsonl"


def read_events(settings: Settings) -> list[dict[str, Any]]:
    """The events the file transport wrote (one JSON object per line)."""
    path = events_file(settings.data_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
