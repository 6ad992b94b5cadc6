"""ragdag.assets owns the chain order: CHAIN and PRODUCING_DAG say what the DAGs really do."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.assets import CHAIN, CHAIN_DAG_IDS, PRODUCING_DAG

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag


def test_producing_dag_names_the_dag_whose_task_emits_each_asset(dag_bag) -> None:
    emitted_by = {
        outlet.name: dag_id for dag_id, dag in dag_bag.dags.items() for task in dag.tasks for outlet in task.outlets
    }
    assert {asset.name: emitted_by.get(asset.name) for asset in CHAIN} == PRODUCING_DAG
    assert set(CHAIN_DAG_IDS) == set(dag_bag.dag_ids), "every DAG of the bundle is in the chain"


def test_each_later_dag_is_scheduled_on_the_asset_of_the_one_before(dag_bag) -> None:
    first, *later = CHAIN_DAG_IDS
    assert dag_bag.dags[first].timetable.asset_condition is None
    for previous_asset, dag_id in zip(CHAIN, later):
        condition = dag_bag.dags[dag_id].timetable.asset_condition
        assert condition is not None, f"{dag_id} is not Asset-scheduled"
        assert [a.uri for a in condition.objects] == [previous_asset.uri], dag_id
