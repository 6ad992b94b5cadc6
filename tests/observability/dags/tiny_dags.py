"""Small DAGs on the bundle's shared DAG_KWARGS: one passes, one fails (no retries: a fail exception)."""

from __future__ import annotations

from airflow.sdk import Asset, Metadata, dag, task
from airflow.sdk.exceptions import AirflowFailException

from ragdag.assets import EMBEDDED_CHUNKS
from ragdag.dag_wiring import DAG_KWARGS

TINY_OUTPUT = Asset(uri="mongodb://mongodb:27017/ragdag/tiny_output", name="tiny_output")


def tiny(dag_id: str, fail: bool):
    @dag(dag_id=dag_id, schedule=None, **DAG_KWARGS)
    def tiny_dag() -> None:
        @task
        def first() -> dict:
            return {"sources": 2, "new": 2}

        @task(outlets=[TINY_OUTPUT])
        def second(report: dict):
            if fail:
                raise AirflowFailException("the sources file names no author")
            yield Metadata(TINY_OUTPUT, {"new": report["new"], "unchanged": 0})

        second(first())

    return tiny_dag()


alerts_failing = tiny("alerts_failing", fail=True)
alerts_passing = tiny("alerts_passing", fail=False)


# The platform's own Asset: a second Asset with the same URI and another name would be refused as
# inactive by an Airflow DB where the real DAGs registered it.
TINY_INPUT = EMBEDDED_CHUNKS


@dag(dag_id="lineage_tiny", schedule=None, **DAG_KWARGS)
def lineage_tiny() -> None:
    @task(inlets=[TINY_INPUT], outlets=[TINY_OUTPUT])
    def copy():
        yield Metadata(TINY_OUTPUT, {"copied": 1})

    copy()


lineage_tiny()
