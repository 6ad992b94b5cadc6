"""The SageMaker backend against moto's SageMaker and S3 server: the request field by field, the
deferrable path with SageMakerTrigger's documented events, and the classified client errors."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from dataset_fixtures import publish_fixture_version

from ragdag.settings import get_settings
from ragdag.stores.object_store import open_object_store
from ragdag.training.registry import ModelStatus, get_model
from ragdag.training.sagemaker_backend import SageMakerConfigError, build_training_config
from ragdag.training.sagemaker_operator import TrainingJobOperator
from ragdag.training.service import mark_running, prepare_training, record_sagemaker_result

ROLE = "arn:aws:iam::123456789012:role/ragdag-training"
IMAGE = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
    "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04"
)


@pytest.fixture
def sagemaker_settings(aws_s3_settings, mongo_db, monkeypatch):
    monkeypatch.setenv("RAGDAG_TRAINING_BACKEND", "sagemaker")
    monkeypatch.setenv("RAGDAG_SAGEMAKER_ROLE_ARN", ROLE)
    monkeypatch.setenv("RAGDAG_SAGEMAKER_IMAGE_URI", IMAGE)
    get_settings.cache_clear()
    return get_settings()


def context(try_number: int = 1, max_tries: int = 2) -> dict:
    return {"ti": SimpleNamespace(try_number=try_number, max_tries=max_tries)}


def operator(settings, config: dict) -> TrainingJobOperator:
    return TrainingJobOperator(
        task_id="train_sagemaker",
        config=config,
        aws_conn_id=settings.aws_conn_id,
        deferrable=True,
        print_log=False,
        check_interval=5,
    )


def planned(settings):
    # moto's server lives for the session: a version of its own per test keeps job names apart.
    manifest = publish_fixture_version(settings, tag=uuid.uuid4().hex)
    plan = prepare_training(settings, "run-1", {"hyperparameters": {"steps": 100, "lora_r": 16}})
    config = build_training_config(settings, plan.job)
    mark_running(settings, plan.job)
    return manifest, plan.job, config


def test_the_training_job_request_field_by_field(sagemaker_settings, moto_endpoint) -> None:
    settings = sagemaker_settings
    manifest, job, config = planned(settings)
    result = operator(settings, config).execute(context())  # moto's jobs complete at once: no deferral

    root = open_object_store(settings).root_uri
    prefix = f"{root}/instruct_datasets/{manifest['version']}"
    sagemaker = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    described = sagemaker.describe_training_job(TrainingJobName=job.job_name)
    assert result["Training"]["TrainingJobName"] == job.job_name == described["TrainingJobName"]
    assert described["RoleArn"] == ROLE
    algorithm = described["AlgorithmSpecification"]
    assert (algorithm["TrainingImage"], algorithm["TrainingInputMode"]) == (IMAGE, "File")
    # moto answers fixed MetricDefinitions: check the ones sent, and that they parse train.py's lines.
    definitions = {m["Name"]: m["Regex"] for m in config["AlgorithmSpecification"]["MetricDefinitions"]}
    import re

    assert re.search(definitions["eval_loss"], "ragdag-metric eval_loss=1.25e+00").group(1) == "1.25e+00"
    hyper = described["HyperParameters"]
    assert hyper["sagemaker_program"] == "train.py"
    assert hyper["max_steps"] == "100" and hyper["lora_r"] == "16" and hyper["lora_alpha"] == "32"
    assert hyper["dataset_version"] == manifest["version"]
    # The packaged default base is not installed in the image: the job starts from its hub model.
    assert hyper["base_model"] == hyper["base_model_hub_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"] for c in described["InputDataConfig"]}
    assert {name: c["S3Uri"] for name, c in channels.items()} == {
        "train": f"{prefix}/train.jsonl",
        "test": f"{prefix}/test.jsonl",
        "preference": f"{prefix}/preference/",
    }
    assert all(c["S3DataType"] == "S3Prefix" for c in channels.values())
    assert described["OutputDataConfig"]["S3OutputPath"] == f"{root}/models"
    assert described["ResourceConfig"] == {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    assert described["StoppingCondition"]["MaxRuntimeInSeconds"] == 14400
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == f"{root}/models/{job.job_name}/output/model.tar.gz"
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=described["TrainingJobArn"])["Tags"]}
    assert tags["dataset_version"] == manifest["version"] and tags["model_id"] == job.model_id
    assert tags["dataset_manifest_sha256"] == job.manifest_sha256

    # The source tarball holds the very entry point the local backend runs, and its requirements.
    source = hyper["sagemaker_submit_directory"]
    bucket, key = source.removeprefix("s3://").split("/", 1)
    body = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").get_object(Bucket=bucket, Key=key)
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as tar:
        assert sorted(tar.getnames()) == ["requirements.txt", "tiny_llama/config.json", "train.py"]
        entry = tar.extractfile("train.py").read()
        requirements = tar.extractfile("requirements.txt").read().decode()
    from ragdag.training import train

    assert entry == open(train.__file__, "rb").read()
    assert "trl==1.16.0" in requirements and "peft==0.21.2" in requirements
    assert get_model(settings, job.model_id).status is ModelStatus.RUNNING

    # The register task reads the artifact SageMaker wrote (here: put where SageMaker puts it).
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in {"metrics.json": json.dumps({"eval_loss": 1.5}).encode(), "README.md": b"---\n---\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    open_object_store(settings).put_bytes(f"models/{job.job_name}/output/model.tar.gz", buffer.getvalue())
    record = record_sagemaker_result(settings, job, result)
    assert record.status is ModelStatus.SUCCEEDED and record.metrics["eval_loss"] == 1.5
    assert record.metrics["sagemaker"]["TrainingJobStatus"] == "Completed"
    assert record.card_uri == f"{root}/models/{job.job_name}/README.md"


def test_managed_spot_with_checkpoints(sagemaker_settings, moto_endpoint, monkeypatch) -> None:
    monkeypatch.setenv("RAGDAG_SAGEMAKER_USE_SPOT", "true")
    get_settings.cache_clear()
    with pytest.raises(SageMakerConfigError, match="RAGDAG_SAGEMAKER_CHECKPOINT_S3_URI"):
        planned(get_settings())
    monkeypatch.setenv("RAGDAG_SAGEMAKER_CHECKPOINT_S3_URI", "s3://ragdag-checkpoints/jobs")
    get_settings.cache_clear()
    _, job, config = planned(get_settings())
    assert config["EnableManagedSpotTraining"] is True
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 14400, "MaxWaitTimeInSeconds": 28800}
    assert config["CheckpointConfig"] == {
        "S3Uri": f"s3://ragdag-checkpoints/jobs/{job.model_id}",
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert config["HyperParameters"]["checkpoint_dir"] == "/opt/ml/checkpoints"
    operator(get_settings(), config).execute(context())
    described = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1").describe_training_job(
        TrainingJobName=job.job_name
    )
    assert described["EnableManagedSpotTraining"] is True
    assert described["CheckpointConfig"]["S3Uri"] == f"s3://ragdag-checkpoints/jobs/{job.model_id}"


def test_deferrable_path_with_the_triggers_events(sagemaker_settings, monkeypatch) -> None:
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

    settings = sagemaker_settings
    _, job, config = planned(settings)
    op = operator(settings, config)
    real_describe = op.hook.describe_training_job

    def in_progress(name: str) -> dict:  # moto finishes at once; a real job is InProgress for hours
        return {**real_describe(name), "TrainingJobStatus": "InProgress"}

    monkeypatch.setattr(op.hook, "describe_training_job", in_progress)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, SageMakerTrigger) and deferred.value.method_name == "execute_complete"
    assert (trigger.job_name, trigger.job_type, trigger.waiter_delay) == (job.job_name, "Training", 5)
    assert trigger.serialize()[1]["job_name"] == job.job_name

    monkeypatch.setattr(op.hook, "describe_training_job", real_describe)
    done = op.execute_complete(context(), {"status": "success", "job_name": job.job_name})
    assert done["Training"]["TrainingJobStatus"] == "Completed"

    failed_event = {
        "status": "failed",
        "job_name": job.job_name,
        "message": "AlgorithmError: ExecuteUserScriptError: train.py exited with 1",
    }
    with pytest.raises(AirflowFailException, match="ended failed: AlgorithmError"):
        op.execute_complete(context(), failed_event)
    record = get_model(settings, job.model_id)
    assert record.status is ModelStatus.FAILED and "AlgorithmError" in record.error


def quota_error() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "ResourceLimitExceeded",
                "Message": (
                    "The account-level service limit 'ml.g5.2xlarge for training job usage' is 0 Instances, with current "
                    "utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to "
                    "request an increase for this quota."
                ),
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "CreateTrainingJob",
    )


def test_resource_limit_exceeded_fails_without_retries_naming_the_quota(sagemaker_settings, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    settings = sagemaker_settings
    _, job, config = planned(settings)
    op = operator(settings, config)

    def refuse(**request):
        raise quota_error()

    monkeypatch.setattr(op.hook.conn, "create_training_job", refuse)
    with pytest.raises(AirflowFailException) as failed:
        op.execute(context(try_number=1))  # first attempt: still not retried
    message = str(failed.value)
    assert "'ml.g5.2xlarge for training job usage'" in message
    assert "Service Quotas" in message and "request-service-quota-increase" in message
    record = get_model(settings, job.model_id)
    assert record.status is ModelStatus.FAILED and "ResourceLimitExceeded" in record.error


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 400, True),
        ("InternalFailure", 500, True),
        ("SomethingNew", 503, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 400, False),
    ],
)
def test_other_client_errors_are_classified(sagemaker_settings, monkeypatch, code, status, transient) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    settings = sagemaker_settings
    _, job, config = planned(settings)
    op = operator(settings, config)

    def refuse(**request):
        raise ClientError(
            {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "CreateTrainingJob",
        )

    monkeypatch.setattr(op.hook.conn, "create_training_job", refuse)
    expected = ClientError if transient else AirflowFailException
    with pytest.raises(expected):
        op.execute(context(try_number=1))
    assert get_model(settings, job.model_id).status is (ModelStatus.RUNNING if transient else ModelStatus.FAILED)
    if transient:  # the last attempt of a transient error is recorded too
        with pytest.raises(ClientError):
            op.execute(context(try_number=3, max_tries=2))
        assert get_model(settings, job.model_id).status is ModelStatus.FAILED


def test_missing_settings_say_what_to_set(aws_s3_settings, mongo_db, monkeypatch) -> None:
    monkeypatch.setenv("RAGDAG_TRAINING_BACKEND", "sagemaker")
    get_settings.cache_clear()
    publish_fixture_version(get_settings())
    plan = prepare_training(get_settings(), "run-1", None)
    with pytest.raises(SageMakerConfigError, match="RAGDAG_SAGEMAKER_ROLE_ARN and RAGDAG_SAGEMAKER_IMAGE_URI"):
        build_training_config(get_settings(), plan.job)
