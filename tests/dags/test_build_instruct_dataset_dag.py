"""The real ``build_instruct_dataset`` DAG run with ``dag.test()`` on chunks in Qdrant local mode.

What Airflow users see: a new version emits one ``instruct_dataset`` event (from ``announce``);
a run with nothing new ends early with ``announce`` skipped and no event (so ``train_model`` is not
triggered); a version failing the quality gate fails ``build`` at once, without retries or event.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from chunk_fixtures import seed_chunks

from ragdag.settings import get_settings

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"

pytestmark = pytest.mark.slow


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def run_state(dag_run) -> str:
    return str(getattr(dag_run.state, "value", dag_run.state))


def asset_events_of(dag_run) -> list:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        session.expunge_all()
    return events


@pytest.fixture(scope="module")
def dataset_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "build_instruct_dataset.py"))
    assert bag.import_errors == {}
    return bag.dags["build_instruct_dataset"]


def test_a_new_version_emits_one_event_and_nothing_new_emits_none(dataset_dag, tiny_split_settings, mongo_db) -> None:
    seed_chunks(tiny_split_settings)
    first = dataset_dag.test()
    assert run_state(first) == "success", task_states(first)
    assert task_states(first) == {"build": "success", "announce": "success"}
    [event] = asset_events_of(first)
    assert event.source_task_id == "announce"
    assert event.extra["version"].startswith("v-") and event.extra["published"] is True
    assert event.extra["train_samples"] > 0 and event.extra["preference_test_samples"] > 0

    again = dataset_dag.test()
    assert run_state(again) == "success"
    assert task_states(again) == {"build": "success", "announce": "skipped"}
    assert asset_events_of(again) == [], "a skipped task emits no Asset event: train_model is not triggered"


def test_a_failing_quality_gate_fails_build_without_retries_or_event(
    dataset_dag, settings, mongo_db, monkeypatch, tmp_path, capfd
) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir, suites)
    suite = json.loads((suites / "instruct_samples.json").read_text())
    [length] = [e for e in suite["expectations"] if e["meta"]["name"] == "instruction_length"]
    length["kwargs"]["max_value"] = 20
    (suites / "instruct_samples.json").write_text(json.dumps(suite))
    monkeypatch.setenv("RAGDAG_EXPECTATIONS_DIR", str(suites))
    get_settings.cache_clear()
    seed_chunks(get_settings())

    dag_run = dataset_dag.test()

    assert run_state(dag_run) == "failed"
    assert task_states(dag_run) == {"build": "failed", "announce": "upstream_failed"}
    [build] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "build"]
    assert build.try_number == 1
    log = capfd.readouterr()
    assert "DatasetQualityFailed: instruct dataset quality gate failed" in log.out + log.err
    assert asset_events_of(dag_run) == []


def test_the_llm_generator_without_its_connection_fails_at_once_naming_it(
    dataset_dag, settings, mongo_db, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("RAGDAG_DATASET_GENERATOR", "llm")
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
    get_settings.cache_clear()
    seed_chunks(get_settings())

    dag_run = dataset_dag.test()

    assert task_states(dag_run) == {"build": "failed", "announce": "upstream_failed"}
    [build] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "build"]
    assert build.try_number == 1
    log = capfd.readouterr()
    assert "the llm generator needs the Airflow connection 'llm_default'" in log.out + log.err
    assert asset_events_of(dag_run) == []


@pytest.mark.parametrize("conf", [{"forse": True}, {"force": "yes"}], ids=["unknown key", "not a boolean"])
def test_a_bad_conf_fails_build_at_once_naming_the_field(dataset_dag, settings, mongo_db, capfd, conf) -> None:
    dag_run = dataset_dag.test(run_conf=conf)

    assert task_states(dag_run) == {"build": "failed", "announce": "upstream_failed"}
    log = capfd.readouterr()
    field = next(iter(conf))
    assert f"InvalidBuildConf: invalid build_instruct_dataset conf: {field}:" in log.out + log.err
    assert asset_events_of(dag_run) == []
