"""The local backend end to end on a real small dataset version: prepare → train → evaluate →
register, the registry record, promotion, failures."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from dataset_fixtures import publish_fixture_version

from ragdag.settings import get_settings
from ragdag.stores.mongo import MODEL_REGISTRY
from ragdag.stores.object_store import open_object_store
from ragdag.training.job import InvalidTrainConf
from ragdag.training.registry import ModelStage, ModelStatus, get_model
from ragdag.training.service import (
    evaluate_candidate,
    prepare_training,
    register_and_promote,
    train_locally,
)


def run_stage(settings, conf=None, run_id="run-1"):
    plan = prepare_training(settings, run_id, conf)
    assert not plan.already_trained
    train_locally(settings, plan.job)
    evaluate_candidate(settings, plan.job)
    record, decision = register_and_promote(settings, plan.job)
    return plan, record, decision


@pytest.mark.slow  # trains a model for real
def test_local_training_registers_an_evaluated_loadable_model(fast_settings, mongo_db) -> None:
    manifest = publish_fixture_version(fast_settings)
    plan = prepare_training(fast_settings, "run-1", None)
    queued = get_model(fast_settings, plan.job.model_id)
    assert queued.status is ModelStatus.QUEUED and queued.stage is None

    record = train_locally(fast_settings, plan.job)
    assert record.status is ModelStatus.SUCCEEDED and record.stage is ModelStage.CANDIDATE
    metrics = record.metrics
    assert metrics["train_loss_last"] < metrics["train_loss_first"], "training lowers the loss"
    assert metrics["sft_steps"] == 20 and metrics["dpo_steps"] == 2, "SFT then DPO on the preference split"

    evaluation = evaluate_candidate(fast_settings, plan.job)
    base, trained = evaluation["metrics"]["base"], evaluation["metrics"]["trained"]
    assert trained["loss"] < base["loss"] and trained["nll_per_byte"] < base["nll_per_byte"]
    assert 0.0 <= trained["rouge_l"] <= 1.0 and evaluation["test_samples"] == manifest["test_samples"]

    record, decision = register_and_promote(fast_settings, plan.job)
    assert decision["promote"] and "the base model" in decision["reason"], decision
    doc = mongo_db[MODEL_REGISTRY].find_one({"_id": record.model_id})
    assert doc["status"] == "succeeded" and doc["stage"] == "production"
    assert doc["dataset_version"] == manifest["version"]
    store = open_object_store(fast_settings)
    manifest_bytes = store.get_bytes(f"instruct_datasets/{manifest['version']}/manifest.json")
    import hashlib

    assert doc["dataset_manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert doc["hyperparameters"]["max_steps"] == "20" and doc["hyperparameters"]["lora_r"] == "16"
    assert doc["base_model"] == "" and doc["adapter"] is False and doc["code_version"]
    assert set(doc["evaluation"]["metrics"]) == {"base", "trained"}

    # The artifact is a Hugging Face model directory transformers loads and generates with.
    archive = store.get_bytes(f"models/{record.job_name}/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json", "README.md"} <= names
    card = store.get_bytes(f"models/{record.job_name}/README.md").decode()
    assert card.startswith("---\n") and manifest["version"] in card and "## Limits" in card
    published_metrics = json.loads(store.get_bytes(f"models/{record.job_name}/metrics.json"))
    assert published_metrics["sft_steps"] == 20 and set(published_metrics["evaluation"]) == {"base", "trained"}
    assert "## Evaluation" in card and "| trained |" in card and "rouge_l" in card
    assert record.card_uri.endswith("/README.md") and record.evaluation_uri.endswith("/evaluation.json")
    stored_eval = json.loads(store.get_bytes(f"models/{record.job_name}/evaluation.json"))
    assert len(stored_eval["generations"]["trained"]) == 2

    # Re-running on the same version with the same hyperparameters trains nothing.
    again = prepare_training(fast_settings, "run-2", None)
    assert again.already_trained and again.job.model_id == record.model_id
    assert mongo_db[MODEL_REGISTRY].count_documents({}) == 1


@pytest.mark.slow  # trains a model for real
def test_a_better_model_is_promoted_and_a_worse_one_stays_a_candidate(fast_settings, mongo_db) -> None:
    publish_fixture_version(fast_settings, preference=False)
    _, first, _ = run_stage(fast_settings, {"hyperparameters": {"steps": 2}})
    assert first.stage is ModelStage.PRODUCTION

    _, better, decision = run_stage(fast_settings, {"hyperparameters": {"steps": 40}}, run_id="run-2")
    assert decision["promote"] and decision["reference_model"] == first.model_id, decision["reason"]
    assert better.stage is ModelStage.PRODUCTION and decision["candidate"] < decision["reference"]
    assert get_model(fast_settings, first.model_id).stage is ModelStage.ARCHIVED
    assert better.evaluation["production_model_id"] == first.model_id

    _, worse, decision = run_stage(fast_settings, {"hyperparameters": {"steps": 1}}, run_id="run-3")
    assert not decision["promote"] and worse.stage is ModelStage.CANDIDATE
    assert "does not beat" in decision["reason"] and better.model_id in decision["reason"]
    assert get_model(fast_settings, better.model_id).stage is ModelStage.PRODUCTION
    assert worse.metrics["dpo_steps"] == 0, "no preference split: no DPO stage"

    # A production model that can no longer be evaluated is never replaced silently.
    store = open_object_store(fast_settings)
    (store.root / f"models/{better.job_name}/output/model.tar.gz").unlink()
    _, blocked, decision = run_stage(fast_settings, {"hyperparameters": {"steps": 30, "seed": 7}}, run_id="run-4")
    assert not decision["promote"] and blocked.stage is ModelStage.CANDIDATE
    assert f"production model {better.model_id} could not be evaluated" in decision["reason"]


@pytest.mark.slow  # trains a model for real
def test_a_failed_run_is_recorded_and_the_next_version_still_trains(fast_settings, mongo_db, monkeypatch) -> None:
    publish_fixture_version(fast_settings)
    monkeypatch.setenv("RAGDAG_TRAINING_MAX_SEQ_LENGTH", "16")  # valid, but every prompt fills it: train.py fails
    get_settings.cache_clear()
    settings = get_settings()
    plan = prepare_training(settings, "run-1", None)
    with pytest.raises(RuntimeError, match="exit"):
        train_locally(settings, plan.job)
    failed = get_model(settings, plan.job.model_id)
    assert failed.status is ModelStatus.FAILED and failed.stage is None
    assert "failed (exit" in failed.error

    monkeypatch.setenv("RAGDAG_TRAINING_MAX_SEQ_LENGTH", "256")
    get_settings.cache_clear()
    publish_fixture_version(get_settings(), tag="next version")
    _, record, _ = run_stage(get_settings(), run_id="run-2")
    assert record.status is ModelStatus.SUCCEEDED and record.dataset_version != failed.dataset_version
    assert get_model(settings, failed.model_id).status is ModelStatus.FAILED


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"dataset_version": "v-1", "epochs": 3}, "epochs"),
        ({"hyperparameters": {"learning_rate": -1}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"lora_rank": 8}}, "hyperparameters.lora_rank"),
        ({"dataset_version": "../etc"}, "dataset_version"),
        ({"dataset_version": "v-0000000000000000"}, "dataset_version"),
    ],
)
def test_a_bad_conf_names_the_field(fast_settings, conf: dict, field: str) -> None:
    publish_fixture_version(fast_settings)
    with pytest.raises(InvalidTrainConf, match=rf"^invalid train_model conf: {field}:"):
        prepare_training(fast_settings, "run-1", conf)
