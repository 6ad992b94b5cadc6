from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from chunk_fixtures import seed_chunks

from ragdag.datasets.publish import build_instruct_dataset
from ragdag.settings import get_settings
from ragdag.stores.object_store import open_object_store
from ragdag.training.registry import MODEL_REGISTRY
from ragdag.training.service import train_latest_dataset


@pytest.fixture
def published(settings, mongo_db):
    seed_chunks(settings)
    return build_instruct_dataset(settings, run_id="dataset-run")


def test_local_backend_trains_registers_and_is_idempotent(settings, mongo_db, published, monkeypatch) -> None:
    monkeypatch.setenv("RAGDAG_TRAINING_STEPS", "5")
    get_settings.cache_clear()
    record, trained_now = train_latest_dataset(get_settings(), run_id="train-run")
    assert trained_now and record.backend == "local"
    assert record.dataset_version == published.version
    assert record.metrics["steps"] == 5 and record.metrics["test_loss"] > 0
    archive = open_object_store(get_settings()).get_bytes(f"models/{record.model_id}/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == ["metrics.json", "model.pt"]
    assert mongo_db[MODEL_REGISTRY].find_one({"_id": record.model_id})["trained_by_run_id"] == "train-run"
    again, trained_again = train_latest_dataset(get_settings(), run_id="train-run-2")
    assert not trained_again and again.model_id == record.model_id
    assert mongo_db[MODEL_REGISTRY].count_documents({}) == 1


def test_sagemaker_backend_sends_the_documented_request(aws_s3_settings, mongo_db, moto_endpoint, monkeypatch) -> None:
    import boto3
    monkeypatch.setenv("RAGDAG_TRAINING_BACKEND", "sagemaker")
    monkeypatch.setenv("RAGDAG_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/ragdag-training")
    monkeypatch.setenv("RAGDAG_SAGEMAKER_IMAGE_URI", "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5-cpu-py311")
    get_settings.cache_clear()
    settings = get_settings()
    seed_chunks(settings)
    manifest = build_instruct_dataset(settings, run_id="dataset-run")
    record, trained_now = train_latest_dataset(settings, run_id="train-run")
    assert trained_now and record.backend == "sagemaker"
    assert record.artifact_uri.startswith(f"{open_object_store(settings).root_uri}/models/")

    sagemaker = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    job = sagemaker.describe_training_job(TrainingJobName=record.model_id)
    assert job["RoleArn"] == settings.sagemaker_role_arn
    assert job["AlgorithmSpecification"]["TrainingImage"] == settings.sagemaker_image_uri
    assert job["HyperParameters"]["sagemaker_program"] == "train.py"
    source = job["HyperParameters"]["sagemaker_submit_directory"]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels == {
        "train": f"{open_object_store(settings).root_uri}/instruct_datasets/{manifest.version}/train.jsonl",
        "test": f"{open_object_store(settings).root_uri}/instruct_datasets/{manifest.version}/test.jsonl",
    }
    # The uploaded source dir holds the very entry point the local backend runs.
    key = source.split("/", 3)[3]
    body = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").get_object(
        Bucket=source.split("/")[2], Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        entry = tar.extractfile("train.py").read()
    assert entry == (Path(__file__).resolve().parents[2] / "include/ragdag/training/train.py").read_bytes()


def test_sagemaker_backend_without_role_says_what_to_set(aws_s3_settings, mongo_db, monkeypatch) -> None:
    monkeypatch.setenv("RAGDAG_TRAINING_BACKEND", "sagemaker")
    get_settings.cache_clear()
    seed_chunks(get_settings())
    build_instruct_dataset(get_settings(), run_id="r")
    with pytest.raises(ValueError, match="RAGDAG_SAGEMAKER_ROLE_ARN"):
        train_latest_dataset(get_settings(), run_id="r")
