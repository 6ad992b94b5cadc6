"""
### train_model

Trains a model on the instruct dataset version that triggered the run.

- **Scheduled on:** `instruct_dataset`.
- **Reads:** the dataset version named in the triggering Asset event (else the latest one).
- **Runs:** the training entry point `ragdag/training/train.py` with the backend in
  `RAGDAG_TRAINING_BACKEND`: `local` (a child process on the worker) or `sagemaker` (a SageMaker
  training job through the Amazon provider, `aws_default`). A dataset version already trained with
  the same hyperparameters is not trained again.
- **Writes:** `models/<job>/output/model.tar.gz` and a record in MongoDB `model_registry`.
- **Emits:** `trained_model` with the model id, dataset version and metrics.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Metadata, dag, task

from ragdag.assets import INSTRUCT_DATASET, TRAINED_MODEL
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of, triggering_extra
from ragdag.settings import get_settings


@dag(schedule=[INSTRUCT_DATASET], tags=[*TAGS, "training"], doc_md=__doc__, **DAG_KWARGS)
def train_model() -> None:
    @task(outlets=[TRAINED_MODEL], execution_timeout=timedelta(hours=4))
    def train(**context):
        from ragdag.training.service import train_latest_dataset

        record, trained_now = train_latest_dataset(
            get_settings(), run_id_of(context), triggering_extra(context, "version")
        )
        yield Metadata(
            TRAINED_MODEL,
            {
                "model_id": record.model_id,
                "dataset_version": record.dataset_version,
                "artifact_uri": record.artifact_uri,
                "metrics": record.metrics,
                "trained_now": trained_now,
            },
        )

    train()


train_model()
