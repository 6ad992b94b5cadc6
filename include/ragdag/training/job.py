"""What one training job is: its name, hyperparameters and where its inputs and outputs live."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel

from ragdag.datasets.publish import DATASETS_PREFIX, DatasetManifest
from ragdag.settings import Settings

MODELS_PREFIX = "models"


class TrainingJob(BaseModel):
    name: str
    dataset_version: str
    hyperparameters: dict[str, str]
    train_key: str
    test_key: str
    output_prefix: str

    @property
    def artifact_key(self) -> str:
        # The layout SageMaker uses for a job's output, kept for the local backend too.
        return f"{self.output_prefix}/{self.name}/output/model.tar.gz"


def plan_training_job(settings: Settings, manifest: DatasetManifest) -> TrainingJob:
    """Name the job after its inputs so retraining the same dataset with the same
    hyperparameters is recognised (SageMaker job names: <= 63 chars, [a-zA-Z0-9-])."""
    hyperparameters = {"steps": str(settings.training_steps), "seed": str(settings.dataset_seed)}
    digest = hashlib.sha256(
        json.dumps([manifest.version, hyperparameters], sort_keys=True).encode()
    ).hexdigest()[:12]
    base = f"{DATASETS_PREFIX}/{manifest.version}"
    return TrainingJob(
        name=f"ragdag-{manifest.version.removeprefix('v-')[:16]}-{digest}",
        dataset_version=manifest.version,
        hyperparameters=hyperparameters,
        train_key=f"{base}/train.jsonl",
        test_key=f"{base}/test.jsonl",
        output_prefix=MODELS_PREFIX,
    )
