"""Run the same training entry point as a SageMaker training job (Amazon provider's SageMakerHook).

The entry point (``ragdag/training/train.py``, standalone) is uploaded as ``sourcedir.tar.gz`` and
run by a SageMaker PyTorch framework image through its ``sagemaker_program`` /
``sagemaker_submit_directory`` hyperparameters; the channels are the dataset version's S3 objects.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from ragdag.settings import Settings
from ragdag.stores.object_store import ObjectStore
from ragdag.training.job import TrainingJob

ENTRY_POINT = Path(__file__).with_name("train.py")
METRIC_DEFINITIONS = [
    {"Name": name, "Regex": f'"{name}": ([0-9.eE+-]+)'}
    for name in ("train_loss_last", "test_loss")
]


def upload_source_dir(store: ObjectStore, job: TrainingJob) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(ENTRY_POINT, arcname="train.py")
    return store.put_bytes(f"{job.output_prefix}/{job.name}/source/sourcedir.tar.gz", buffer.getvalue())


def training_job_config(settings: Settings, store: ObjectStore, job: TrainingJob, source_uri: str) -> dict[str, Any]:
    """The CreateTrainingJob request, as the SageMaker API documents it."""
    if not settings.sagemaker_role_arn or not settings.sagemaker_image_uri:
        raise ValueError(
            "the sagemaker backend needs RAGDAG_SAGEMAKER_ROLE_ARN and RAGDAG_SAGEMAKER_IMAGE_URI "
            "(a PyTorch training image) — or set RAGDAG_TRAINING_BACKEND=local"
        )

    def channel(name: str, key: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": store.uri(key),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "application/jsonlines",
        }

    return {
        "TrainingJobName": job.name,
        "AlgorithmSpecification": {
            "TrainingImage": settings.sagemaker_image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.sagemaker_role_arn,
        "HyperParameters": {
            **job.hyperparameters,
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": source_uri,
        },
        "InputDataConfig": [channel("train", job.train_key), channel("test", job.test_key)],
        "OutputDataConfig": {"S3OutputPath": store.uri(job.output_prefix)},
        "ResourceConfig": {
            "InstanceType": settings.sagemaker_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "dataset_version", "Value": job.dataset_version}],
    }


def run_sagemaker_training(settings: Settings, store: ObjectStore, job: TrainingJob) -> dict:
    """Create the job, wait for it, return its final metrics."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    if not store.root_uri.startswith("s3://"):
        raise ValueError("the sagemaker backend reads its channels from S3: set RAGDAG_OBJECT_STORE_URL=s3://…")
    config = training_job_config(settings, store, job, upload_source_dir(store, job))
    hook = SageMakerHook(aws_conn_id=settings.aws_conn_id)
    hook.create_training_job(config, wait_for_completion=True, print_log=False, check_interval=30)
    described = hook.describe_training_job(job.name)
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
