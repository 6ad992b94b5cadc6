"""The overview's one line per DAG run, summed up from task records stored in a real MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ragdag.observability.run_records import RunStatus, new_record, save_record
from ragdag.observability.run_summaries import latest_runs

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _task(db, settings, dag_id, run_id, task_id, *, minute, status, map_index=None, try_number=1, counts=None):
    record = new_record("crawl" if dag_id == "crawl_sources" else dag_id, None, settings)
    record = record.model_copy(
        update={
            "id": f"{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}",
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "try_number": try_number,
            "started_at": T0 + timedelta(minutes=minute),
            "finished_at": None if status == RunStatus.RUNNING else T0 + timedelta(minutes=minute + 1),
            "status": status,
            "counts_out": counts or {},
            "details": {"report": task_id} if counts else {},
        }
    )
    save_record(db, record)


def test_the_latest_run_of_each_dag_is_summed_up_from_its_tasks_last_attempts(settings, mongo_db) -> None:
    ok, failed, running = RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.RUNNING
    _task(mongo_db, settings, "crawl_sources", "run-old", "crawl", minute=0, status=ok, map_index=0, counts={"new": 9})
    # The newer crawl run: one host's task failed once, then passed; its counts add up over hosts.
    _task(mongo_db, settings, "crawl_sources", "run-new", "plan", minute=10, status=ok)
    _task(mongo_db, settings, "crawl_sources", "run-new", "crawl", minute=11, status=failed, map_index=0)
    _task(
        mongo_db, settings, "crawl_sources", "run-new", "crawl", minute=13, status=ok, map_index=0, try_number=2,
        counts={"new": 2, "updated": 1},
    )  # fmt: skip
    _task(mongo_db, settings, "crawl_sources", "run-new", "crawl", minute=12, status=ok, map_index=1, counts={"new": 3})
    # A validation run whose gate failed, and an embed run still encoding.
    _task(mongo_db, settings, "validate_documents", "run-v", "validate", minute=20, status=failed)
    _task(mongo_db, settings, "embed_documents", "run-e", "plan", minute=30, status=ok)
    _task(mongo_db, settings, "embed_documents", "run-e", "encode", minute=31, status=running, map_index=0)

    summaries = latest_runs(mongo_db, ["crawl_sources", "validate_documents", "embed_documents", "train_model"])

    crawl = summaries["crawl_sources"]
    assert crawl is not None and crawl.run_id == "run-new"
    assert (crawl.status, crawl.tasks, crawl.failed_tasks) == (ok, 3, [])
    assert crawl.counts_out == {"new": 5, "updated": 1}
    assert crawl.started_at == T0 + timedelta(minutes=10)
    assert crawl.finished_at == T0 + timedelta(minutes=14)
    validate = summaries["validate_documents"]
    assert validate is not None and (validate.status, validate.failed_tasks) == (failed, ["validate"])
    embed = summaries["embed_documents"]
    assert embed is not None and (embed.status, embed.finished_at, embed.tasks) == (running, None, 2)
    assert summaries["train_model"] is None


def test_records_read_through_a_client_that_is_not_tz_aware_are_in_utc(settings, mongo_db, mongo_uri) -> None:
    from pymongo import MongoClient

    ok = RunStatus.SUCCESS
    _task(mongo_db, settings, "train_model", "run-t", "train", minute=0, status=ok, counts={"models": 1})
    naive = MongoClient(mongo_uri)  # what an Airflow connection's MongoHook gives
    try:
        summary = latest_runs(naive[mongo_db.name], ["train_model"])["train_model"]
    finally:
        naive.close()
    assert summary is not None
    assert (summary.started_at, summary.finished_at) == (T0, T0 + timedelta(minutes=1))
