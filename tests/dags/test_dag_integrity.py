"""Every DAG in dags/ imports cleanly, is documented and owned, and the Asset chain is exactly the
one ragdag.assets defines (crawl_sources → validate_documents → embed_documents →
build_instruct_dataset → train_model)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ragdag.assets import CHAIN_DAG_IDS

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
CHAIN = list(CHAIN_DAG_IDS)  # the chain as ragdag.assets defines it; the DAG files must wire exactly that
# Never loaded while a DAG file is parsed (the dag-processor parses every file again and again).
HEAVY_MODULES = (
    "boto3",
    "botocore",
    "torch",
    "transformers",
    "sentence_transformers",
    "openvino",
    "qdrant_client",
    "great_expectations",
    "pymongo",
    "trafilatura",
)
# train_model builds the Amazon provider's SageMaker operator at parse time
# (ragdag.training.sagemaker_operator subclasses it), and the provider imports boto3. Still to do.
PARSE_TIME_EXCEPTIONS = {"train_model.py": ("boto3", "botocore")}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dag_bag) -> None:
    assert dag_bag.import_errors == {}
    assert sorted(dag_bag.dag_ids) == sorted(CHAIN)


def test_each_file_is_named_after_its_dag(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        assert Path(dag.fileloc).stem == dag_id


@pytest.mark.parametrize("dag_id", CHAIN)
def test_dag_has_tags_owner_retries_docs(dag_bag, dag_id: str) -> None:
    dag = dag_bag.dags[dag_id]
    assert dag.tags, "every DAG is tagged"
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.owner == "ml-platform"
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


@pytest.mark.parametrize("dag_id", CHAIN)
def test_no_cycles(dag_bag, dag_id: str) -> None:
    from airflow.sdk.definitions.dag import DAG  # noqa: F401  (check_cycle lives on the DAG)

    dag = dag_bag.dags[dag_id]
    assert dag.topological_sort() is not None  # raises on a cycle
    assert len(dag.topological_sort()) == len(dag.tasks)


def test_asset_chain_is_exactly_the_five_dags(dag_bag) -> None:
    producers: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    for dag_id in CHAIN:
        dag = dag_bag.dags[dag_id]
        for task in dag.tasks:
            for outlet in task.outlets:
                assert outlet.uri not in producers, f"{outlet.uri} has two producers"
                producers[outlet.uri] = dag_id
        condition = dag.timetable.asset_condition
        for asset in condition.objects if condition is not None else ():
            consumers.setdefault(asset.uri, []).append(dag_id)
    edges = sorted((producers[uri], consumer) for uri, dags in consumers.items() for consumer in dags)
    assert edges == sorted(zip(CHAIN, CHAIN[1:]))
    # The first DAG runs on a time schedule, the last emits an Asset nobody consumes (yet).
    assert dag_bag.dags["crawl_sources"].timetable.asset_condition is None


@pytest.mark.parametrize("dag_file", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_import_nothing_heavy(dag_file: Path) -> None:
    forbidden = tuple(m for m in HEAVY_MODULES if m not in PARSE_TIME_EXCEPTIONS.get(dag_file.name, ()))
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        f"heavy = [m for m in {forbidden!r} if m in sys.modules]; print(heavy); sys.exit(bool(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(dag_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_start_date_is_timezone_aware() -> None:
    # Airflow would read a naive date in the deployment's default timezone.
    from ragdag.dag_wiring import START_DATE

    assert START_DATE.utcoffset() is not None
