"""The model registry: one MongoDB record per trained model, with its lineage and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from pymongo.database import Database

MODEL_REGISTRY = "model_registry"


class ModelRecord(BaseModel):
    model_id: str  # also the training job name
    dataset_version: str
    dataset_manifest_uri: str
    backend: str
    hyperparameters: dict[str, str]
    metrics: dict[str, Any]
    artifact_uri: str
    trained_by_run_id: str
    created_at: datetime


def find_model(db: Database, model_id: str) -> ModelRecord | None:
    doc = db[MODEL_REGISTRY].find_one({"_id": model_id})
    return ModelRecord.model_validate(doc) if doc else None


def register_model(db: Database, record: ModelRecord) -> None:
    db[MODEL_REGISTRY].replace_one(
        {"_id": record.model_id}, {"_id": record.model_id, **record.model_dump()}, upsert=True
    )
