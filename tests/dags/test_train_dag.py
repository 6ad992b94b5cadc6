"""The real ``train_model`` DAG run with ``dag.test()`` on the local backend and a small real
dataset version: branch, train, evaluate, register; a re-run reuses the record; a bad conf and a
failed training fail at once, with the failure in the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from dataset_fixtures import publish_fixture_version  # noqa: E402

from ragdag.settings import get_settings  # noqa: E402
from ragdag.stores.mongo import MODEL_REGISTRY  # noqa: E402

pytestmark = pytest.mark.slow  # trains a model through the real DAG

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
FAST = {
    "RAGDAG_TRAINING_STEPS": "20",
    "RAGDAG_TRAINING_DPO_STEPS": "2",
    "RAGDAG_TRAINING_EVAL_GENERATIONS": "2",
    "RAGDAG_TRAINING_EVAL_MAX_NEW_TOKENS": "8",
    "RAGDAG_TRAINING_NUM_THREADS": "1",
}
SAGEMAKER_BRANCH = {"build_sagemaker_config", "train_sagemaker", "collect_sagemaker_job"}


@pytest.fixture(scope="module")
def train_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "train_model.py"))
    assert bag.import_errors == {}
    return bag.dags["train_model"]


@pytest.fixture
def fast(settings, mongo_db, monkeypatch):
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def events_of(dag_run) -> list:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        session.expunge_all()
    return events


def test_local_run_trains_evaluates_promotes_then_reuses(train_dag, fast, mongo_db) -> None:
    manifest = publish_fixture_version(fast)
    dag_run = train_dag.test()
    got = states(dag_run)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success", got
    assert {t: got[t] for t in ("prepare", "choose_backend", "train_local", "evaluate", "register")} == dict.fromkeys(
        ("prepare", "choose_backend", "train_local", "evaluate", "register"), "success"
    )
    assert {got[t] for t in (*SAGEMAKER_BRANCH, "reuse_registered")} == {"skipped"}
    [event] = events_of(dag_run)
    extra = event.extra
    assert (extra["dataset_version"], extra["status"], extra["stage"]) == (
        manifest["version"],
        "succeeded",
        "production",
    )
    assert extra["promoted"] and "the base model" in extra["reason"] and extra["trained_now"]
    assert "its lower bound beats the margin" in extra["reason"]
    assert extra["metrics"]["nll_per_byte"] > 0
    record = mongo_db[MODEL_REGISTRY].find_one({"_id": extra["model_id"]})
    assert record["trained_by_run_id"] == dag_run.run_id and record["evaluation"]["metrics"]["base"]

    again = train_dag.test()
    got = states(again)
    assert got["reuse_registered"] == "success" and got["train_local"] == "skipped" and got["evaluate"] == "skipped"
    [event] = events_of(again)
    assert event.extra["model_id"] == extra["model_id"] and event.extra["trained_now"] is False
    assert mongo_db[MODEL_REGISTRY].count_documents({}) == 1


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"hyperparameters": {"learning_rate": "fast"}}, "hyperparameters.learning_rate"),
        ({"dataset_version": "v-1", "force": True}, "force"),
    ],
)
def test_bad_conf_fails_prepare_naming_the_field(train_dag, fast, capfd, conf, field) -> None:
    publish_fixture_version(fast)
    dag_run = train_dag.test(run_conf=conf)
    got = states(dag_run)
    assert got["prepare"] == "failed" and got["register"] == "upstream_failed"
    log = capfd.readouterr()
    assert f"InvalidTrainConf: invalid train_model conf: {field}:" in log.out + log.err
    [prepare] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "prepare"]
    assert prepare.try_number == 1
    assert events_of(dag_run) == []


def test_a_failed_training_is_recorded_and_fails_the_run_without_retries(train_dag, fast, mongo_db) -> None:
    publish_fixture_version(fast)
    dag_run = train_dag.test(run_conf={"hyperparameters": {"max_seq_length": 16}})
    got = states(dag_run)
    assert (
        got["train_local"] == "failed" and got["evaluate"] == "upstream_failed" and got["register"] == "upstream_failed"
    )
    [train] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "train_local"]
    assert train.try_number == 1
    [record] = mongo_db[MODEL_REGISTRY].find()
    assert record["status"] == "failed" and "failed (exit" in record["error"]
    assert events_of(dag_run) == []


def test_sagemaker_branch_runs_the_deferrable_operator_against_moto(train_dag, aws_s3_settings, mongo_db, monkeypatch):
    """The sagemaker branch end to end on moto's server: config → operator → collect → evaluate.

    moto completes a job at once and writes no artifact, so the artifact SageMaker would write is
    put in place first, made by the same entry point (the local backend) from the same version.
    """
    from ragdag.datasets.layout import manifest_key
    from ragdag.datasets.publish import load_manifest
    from ragdag.stores.object_store import open_object_store
    from ragdag.training.job import plan_training_job, resolve_hyperparameters
    from ragdag.training.local_backend import run_local_training

    for name, value in {
        **FAST,
        "RAGDAG_TRAINING_BACKEND": "sagemaker",
        "RAGDAG_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/ragdag-training",
        "RAGDAG_SAGEMAKER_IMAGE_URI": "763104351884.dkr.ecr.us-east-1.amazonaws.com/hf:latest",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    import uuid

    manifest = publish_fixture_version(settings, tag=uuid.uuid4().hex)  # moto's jobs outlive a test
    store = open_object_store(settings)
    job = plan_training_job(
        settings,
        load_manifest(settings, manifest["version"]),
        store.get_bytes(manifest_key(manifest["version"])),
        resolve_hyperparameters(settings),
        has_preference=True,
    )
    store.put_bytes(job.artifact_key, run_local_training(store, job, num_threads=1, timeout_s=600))

    dag_run = train_dag.test()
    got = states(dag_run)
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success", got
    assert {got[t] for t in ("build_sagemaker_config", "train_sagemaker", "collect_sagemaker_job")} == {"success"}
    assert got["train_local"] == "skipped" and got["evaluate"] == "success"
    record = mongo_db[MODEL_REGISTRY].find_one({"_id": job.model_id})
    assert (record["backend"], record["status"], record["stage"]) == ("sagemaker", "succeeded", "production")
    assert record["artifact_uri"] == f"{store.root_uri}/models/{job.job_name}/output/model.tar.gz"
    assert record["metrics"]["sagemaker"]["TrainingJobStatus"] == "Completed"
    [event] = events_of(dag_run)
    assert event.extra["model_id"] == job.model_id and event.extra["promoted"]
