"""Run the five DAGs in their Asset order with ``dag.test()``: the README's main job.

It runs the real DAG code in-process against the embedded defaults (MongoDB server, Qdrant local
mode, object store on disk, local training); the scheduler-driven chain over the REST API is
``scripts/e2e.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ragdag.settings import PROJECT_ROOT

# ragdag.assets (and so Airflow) is imported inside the functions: Airflow reads AIRFLOW_HOME when
# it is first imported, which must come after prepare_airflow_home has set it.


@dataclass
class ChainRun:
    dag_id: str
    run_id: str
    state: str
    seconds: float


def prepare_airflow_home() -> Path:
    """Point Airflow at this project (before it is imported) and migrate its metadata DB."""
    home = Path(os.environ.setdefault("AIRFLOW_HOME", str(PROJECT_ROOT / "airflow_home")))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from ragdag.observability.openlineage import openlineage_env
    from ragdag.settings import get_settings

    for key, value in openlineage_env(get_settings().data_dir).items():  # OpenLineage events into the data dir
        os.environ.setdefault(key, value)
    home.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return home


def run_chain(crawl_conf: dict | None) -> list[ChainRun]:
    from airflow.dag_processing.dagbag import DagBag

    from ragdag.assets import CHAIN_DAG_IDS

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    runs = []
    for dag_id in CHAIN_DAG_IDS:
        started = time.perf_counter()
        dag_run = bag.dags[dag_id].test(run_conf=crawl_conf if dag_id == "crawl_sources" else None)
        state = str(getattr(dag_run.state, "value", dag_run.state))
        runs.append(ChainRun(dag_id, dag_run.run_id, state, time.perf_counter() - started))
        if state != "success":
            break
    return runs


def chain_succeeded(runs: list[ChainRun]) -> bool:
    """Every DAG of the chain ran, in order, and succeeded."""
    from ragdag.assets import CHAIN_DAG_IDS

    return [r.dag_id for r in runs] == list(CHAIN_DAG_IDS) and all(r.state == "success" for r in runs)
