"""Train on the latest dataset version with the configured backend and register the model."""

from __future__ import annotations

from datetime import UTC, datetime

from ragdag.datasets.publish import latest_dataset_version, load_manifest
from ragdag.settings import Settings
from ragdag.stores.mongo import mongo_database
from ragdag.stores.object_store import open_object_store
from ragdag.training.job import plan_training_job
from ragdag.training.local_backend import run_local_training
from ragdag.training.registry import ModelRecord, find_model, register_model
from ragdag.training.sagemaker_backend import run_sagemaker_training


def train_latest_dataset(settings: Settings, run_id: str, dataset_version: str | None = None) -> tuple[ModelRecord, bool]:
    """Return the registered model and whether it was trained now (False: already registered)."""
    version = dataset_version or latest_dataset_version(settings)
    manifest = load_manifest(settings, version)
    job = plan_training_job(settings, manifest)
    with mongo_database(settings) as db:
        existing = find_model(db, job.name)
        if existing is not None:
            return existing, False
    store = open_object_store(settings)
    backends = {
        "local": lambda: run_local_training(store, job),
        "sagemaker": lambda: run_sagemaker_training(settings, store, job),
    }
    metrics = backends[settings.training_backend]()
    record = ModelRecord(
        model_id=job.name,
        dataset_version=version,
        dataset_manifest_uri=manifest.manifest_uri,
        backend=settings.training_backend,
        hyperparameters=job.hyperparameters,
        metrics=metrics,
        artifact_uri=store.uri(job.artifact_key),
        trained_by_run_id=run_id,
        created_at=datetime.now(UTC),
    )
    with mongo_database(settings) as db:
        register_model(db, record)
    return record, True
