"""OpenLineage: a DAG run with the file transport writes START and COMPLETE events per task, with the
task's declared inputs and outputs as datasets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ragdag.observability.openlineage import ol_dataset, openlineage_env, read_events, task_datasets

TINY_DAGS = Path(__file__).parent / "dags" / "tiny_dags.py"
RUN_DAG = """
import sys
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

DagBundlesManager().sync_bundles_to_db()
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
sync_bag_to_db(bag, "dags-folder", None)
run = bag.dags[sys.argv[2]].test()
print("STATE", run.state)
"""


def test_a_dag_run_writes_start_and_complete_events_with_its_datasets(airflow_db, settings) -> None:
    # A child process: the provider decides at import time whether OpenLineage is on.
    env = {**os.environ, **openlineage_env(settings.data_dir)}
    result = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(TINY_DAGS), "lineage_tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "STATE success" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]

    events = [e for e in read_events(settings) if e["job"]["name"] == "lineage_tiny.copy"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert event["job"]["namespace"] == "ragdag"
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("qdrant://qdrant:6333", "embedded_chunks")]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            ("mongodb://mongodb:27017", "ragdag.tiny_output")
        ]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    dag_events = [e for e in read_events(settings) if e["job"]["name"] == "lineage_tiny"]
    assert "COMPLETE" in {e["eventType"] for e in dag_events}  # dag.test() fires no DAG-run start listener


def test_each_stage_names_the_store_collections_behind_its_assets() -> None:
    from ragdag.assets import EMBEDDED_CHUNKS, VALIDATED_DOCUMENTS

    inputs, outputs = task_datasets("embed_documents", "embed", [VALIDATED_DOCUMENTS], [EMBEDDED_CHUNKS])
    assert ("mongodb://mongodb:27017", "ragdag.validated_documents") in [(d.namespace, d.name) for d in inputs]
    assert ("s3://ragdag", "feature_staging") in [(d.namespace, d.name) for d in inputs]
    planned, _ = task_datasets("embed_documents", "plan", [], [])
    assert ("mongodb://mongodb:27017", "ragdag.articles") in [(d.namespace, d.name) for d in planned]
    assert [(d.namespace, d.name) for d in outputs][:2] == [
        ("qdrant://qdrant:6333", "embedded_chunks"),
        ("qdrant://qdrant:6333", "cleaned_documents"),
    ]
    s3 = ol_dataset("s3://ragdag/instruct_datasets")
    assert (s3.namespace, s3.name) == ("s3://ragdag", "instruct_datasets")
    own = ol_dataset("x-s3://ragdag/instruct_datasets")  # an Asset's own scheme names the same dataset
    assert (own.namespace, own.name) == ("s3://ragdag", "instruct_datasets")
