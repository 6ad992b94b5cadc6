"""Qdrant unavailable for a while: another process holds local mode's folder (its one-process lock).

The stage waits for it, saying so in the log, and then succeeds; past ``qdrant_lock_wait_s`` it
fails with a message naming the folder and the setting (Airflow retries the task).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ragdag.features.pipeline import embed_validated_documents
from ragdag.stores.qdrant import QdrantUnavailable, qdrant_client

pytestmark = pytest.mark.faults

HOLDER = """
import sys, time
from pathlib import Path
from qdrant_client import QdrantClient
client = QdrantClient(path=sys.argv[1])
Path(sys.argv[2]).write_text("held")
time.sleep(float(sys.argv[3]))
Path(sys.argv[2] + ".released").write_text("letting go")
client.close()
"""


def _hold(settings, tmp_path, seconds: float) -> subprocess.Popen:
    settings.qdrant_path.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(settings.qdrant_path), str(marker), str(seconds)])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert holder.poll() is None and time.monotonic() < deadline, "the holder did not take the lock"
        time.sleep(0.05)
    return holder


def test_a_held_folder_fails_clearly_after_the_wait(settings, tmp_path) -> None:
    holder = _hold(settings, tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(QdrantUnavailable) as failure:
            with qdrant_client(settings.model_copy(update={"qdrant_lock_wait_s": 1.0})):
                pass
        assert time.monotonic() - started >= 1.0
    finally:
        holder.kill()
        holder.wait()
    message = str(failure.value)
    assert str(settings.qdrant_path) in message and "RAGDAG_QDRANT_LOCK_WAIT_S" in message


def test_the_stage_waits_for_the_folder_then_succeeds(settings, mongo_db, tmp_path, caplog) -> None:
    holder = _hold(settings, tmp_path, 3)
    try:
        with caplog.at_level("WARNING", logger="ragdag.stores.qdrant"):
            report = embed_validated_documents(settings.model_copy(update={"qdrant_lock_wait_s": 60.0}), "waited")
        assert (tmp_path / "held.released").exists()  # it only got through once the holder let go
    finally:
        holder.kill()
        holder.wait()
    assert report.documents_total == 0 and report.chunks_total == 0
    assert any("in use by another process; retrying" in r.getMessage() for r in caplog.records)
