"""The training task process SIGKILLed while it trains (break 6 of issue 25): its ``except`` never
runs, so the registry record stayed ``running`` forever, with no error. The next attempt of the
task and the next run must find it lost and mark it failed, with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from dataset_fixtures import publish_fixture_version

from ragdag.stores.mongo import mongo_database
from ragdag.training.registry import ModelStatus, TrainingRunner, find_model
from ragdag.training.service import mark_running, prepare_training

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # trains for real, then SIGKILLs the task

# The task process: what `train_local` runs, here in a child of its own (a session: its train.py too).
TASK = """
import json, sys
from ragdag.settings import get_settings
from ragdag.training.job import TrainingJob
from ragdag.training.service import train_locally
train_locally(get_settings(), TrainingJob.model_validate(json.loads(sys.argv[1])))
"""


def _start_and_kill_task(settings, job, log) -> int:
    """Start the task, SIGKILL it once the registry says it trains; its pid."""
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", TASK, job.model_dump_json()], stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            with mongo_database(settings) as db:
                record = find_model(db, job.model_id)
            if record.status is ModelStatus.RUNNING:
                break
            if child.poll() is not None:
                pytest.fail(f"the task ended (rc {child.returncode}) before training:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the task never reached training")
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # its train.py, orphaned by the kill
        except ProcessLookupError:
            pass
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return child.pid


def test_a_killed_training_task_is_marked_failed_by_the_next_run(fast_settings, mongo_db, tmp_path) -> None:
    publish_fixture_version(fast_settings)
    job = prepare_training(fast_settings, "run-1", None).job
    pid = _start_and_kill_task(fast_settings, job, tmp_path / "task.log")
    with mongo_database(fast_settings) as db:
        assert find_model(db, job.model_id).status is ModelStatus.RUNNING  # nobody recorded the kill

    # The next run trains other hyperparameters (another model): the killed job is found lost.
    other = prepare_training(fast_settings, "run-2", {"hyperparameters": {"steps": 21}}).job
    assert other.model_id != job.model_id
    with mongo_database(fast_settings) as db:
        lost = find_model(db, job.model_id)
    assert lost.status is ModelStatus.FAILED and lost.runner is None
    assert f"training job {job.job_name} (attempt 1) was lost" in lost.error
    assert f"pid {pid}" in lost.error and "is gone" in lost.error


def test_the_next_attempt_of_a_killed_training_task_records_why_it_took_over(fast_settings, mongo_db, tmp_path) -> None:
    publish_fixture_version(fast_settings)
    job = prepare_training(fast_settings, "run-1", None).job
    pid = _start_and_kill_task(fast_settings, job, tmp_path / "task.log")

    retried = mark_running(fast_settings, job, TrainingRunner.this_process())  # what the retry does first

    assert retried.status is ModelStatus.RUNNING and retried.runner.pid == os.getpid()
    assert f"pid {pid}" in retried.error and "is gone" in retried.error
    with mongo_database(fast_settings) as db:
        assert json.loads(find_model(db, job.model_id).model_dump_json())["error"] == retried.error
