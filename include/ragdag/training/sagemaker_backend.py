"""The CreateTrainingJob request that runs the same entry point as a SageMaker training job.

The entry point (``ragdag/training/train.py``, standalone) is uploaded with its
``requirements.txt`` and the tiny model config as ``sourcedir.tar.gz`` and run by a Hugging Face
PyTorch training image through its ``sagemaker_program`` / ``sagemaker_submit_directory``
hyperparameters (the Hugging Face estimator's conventions); the channels are the dataset version's
S3 prefixes. The ``train_model`` DAG hands this config to the Amazon provider's
``SageMakerTrainingOperator`` (deferrable); nothing here waits.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

from ragdag.errors import PermanentError
from ragdag.settings import Settings
from ragdag.stores.object_store import ObjectStore, open_object_store
from ragdag.training.job import TrainingJob, entry_point_arguments
from ragdag.training.train import METRIC_PREFIX

HERE = Path(__file__).parent
SOURCE_FILES = {
    "train.py": HERE / "train.py",
    "requirements.txt": HERE / "requirements.txt",
    "tiny_llama/config.json": HERE / "tiny_llama" / "config.json",
}
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
METRIC_NAMES = (
    "train_loss",
    "eval_loss",
    "base_eval_loss",
    "eval_perplexity",
    "dpo_train_loss",
    "dpo_rewards_accuracies",
)
METRIC_DEFINITIONS = [{"Name": name, "Regex": f"{METRIC_PREFIX} {name}=([0-9.eE+-]+)"} for name in METRIC_NAMES]


class SageMakerConfigError(PermanentError, ValueError):
    """The settings cannot make a valid training job; the message says what to set."""


def source_tarball() -> bytes:
    """``sourcedir.tar.gz``: train.py, its requirements.txt and the tiny model's config (stable bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for arcname, path in SOURCE_FILES.items():
            info = tarfile.TarInfo(arcname)
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def check_settings(settings: Settings, store: ObjectStore) -> None:
    missing = [
        name
        for name, value in (
            ("RAGDAG_SAGEMAKER_ROLE_ARN", settings.sagemaker_role_arn),
            ("RAGDAG_SAGEMAKER_IMAGE_URI", settings.sagemaker_image_uri),
        )
        if not value
    ]
    if missing:
        raise SageMakerConfigError(
            f"the sagemaker backend needs {' and '.join(missing)} (an IAM role SageMaker can assume; a Hugging "
            "Face PyTorch training image URI) — or set RAGDAG_TRAINING_BACKEND=local"
        )
    if not store.root_uri.startswith("s3://"):
        raise SageMakerConfigError(
            "the sagemaker backend reads its channels from S3: set RAGDAG_OBJECT_STORE_URL=s3://…"
        )
    if settings.sagemaker_use_spot:
        if not settings.sagemaker_checkpoint_s3_uri.startswith("s3://"):
            raise SageMakerConfigError(
                "managed spot training needs RAGDAG_SAGEMAKER_CHECKPOINT_S3_URI=s3://… to resume after an interruption"
            )
        if settings.sagemaker_max_wait_s < settings.sagemaker_max_runtime_s:
            raise SageMakerConfigError("RAGDAG_SAGEMAKER_MAX_WAIT_S must be at least RAGDAG_SAGEMAKER_MAX_RUNTIME_S")


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
        "ContentType": "application/jsonlines",
        "InputMode": "File",
    }


def training_job_config(settings: Settings, store: ObjectStore, job: TrainingJob, source_uri: str) -> dict[str, Any]:
    """The CreateTrainingJob request, as the SageMaker API documents it."""
    channels = [_channel("train", store.uri(job.train_key)), _channel("test", store.uri(job.test_key))]
    if job.preference_keys:
        # One prefix holding preference/train.jsonl and preference/test.jsonl.
        channels.append(_channel("preference", store.uri(job.preference_keys["train"]).rsplit("/", 1)[0] + "/"))
    # An empty value (no base model: the tiny default) is train.py's default: not sent.
    arguments = entry_point_arguments(job.hyperparameters, backend="sagemaker")
    hyperparameters = {k: v for k, v in arguments.items() if v != ""}
    if settings.sagemaker_use_spot:
        hyperparameters["checkpoint_dir"] = CHECKPOINT_LOCAL_PATH
    config: dict[str, Any] = {
        "TrainingJobName": job.job_name,
        "AlgorithmSpecification": {
            "TrainingImage": settings.sagemaker_image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.sagemaker_role_arn,
        "HyperParameters": {
            **hyperparameters,
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": source_uri,
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": job.job_name,
        },
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": store.uri(job.output_prefix)},
        "ResourceConfig": {
            "InstanceType": settings.sagemaker_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": settings.sagemaker_volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.sagemaker_max_runtime_s},
        "Environment": {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_TELEMETRY": "1"},
        "Tags": [
            {"Key": "project", "Value": "ragdag"},
            {"Key": "model_id", "Value": job.model_id},
            {"Key": "dataset_version", "Value": job.dataset_version},
            {"Key": "dataset_manifest_sha256", "Value": job.manifest_sha256},
        ],
    }
    if settings.sagemaker_use_spot:
        config["EnableManagedSpotTraining"] = True
        config["StoppingCondition"]["MaxWaitTimeInSeconds"] = settings.sagemaker_max_wait_s
        config["CheckpointConfig"] = {
            "S3Uri": f"{settings.sagemaker_checkpoint_s3_uri.rstrip('/')}/{job.model_id}",
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return config


def build_training_config(settings: Settings, job: TrainingJob) -> dict[str, Any]:
    """Check the settings, upload ``sourcedir.tar.gz``, return the request for the operator."""
    store = open_object_store(settings)
    check_settings(settings, store)
    source_uri = store.put_bytes(job.source_key, source_tarball())
    return training_job_config(settings, store, job, source_uri)
