"""Killing a child process for real at the point it reports: it writes a marker file where it
holds (sleeping until killed), the test waits for the marker and sends SIGKILL. And a child that
holds a store busy (Qdrant's local-mode folder, as an embed run does) until the test kills it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def kill_when_held(
    child: subprocess.Popen, marker: Path, point: str, *, timeout_s: float = 300, log: Path | None = None
) -> None:
    """SIGKILL ``child`` once ``marker`` exists; fail the test if it ends first or never gets there."""
    deadline = time.monotonic() + timeout_s
    try:
        while not marker.exists():
            if child.poll() is not None:
                output = f":\n{log.read_text()[-3000:]}" if log is not None else ""
                pytest.fail(f"the child process ended (rc {child.returncode}) before {point}{output}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child process never reached {point}")
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


# Another process holding Qdrant's local-mode folder (local mode opens a path from one process).
_QDRANT_HOLDER = """
import sys, time
from pathlib import Path
from qdrant_client import QdrantClient
client = QdrantClient(path=sys.argv[1])
Path(sys.argv[2]).write_text("held")
time.sleep(600)
"""


def hold_qdrant_folder(path: Path, marker: Path, *, timeout_s: float = 120) -> subprocess.Popen:
    """A child process that has opened Qdrant local mode on ``path``; kill it to free the folder."""
    path.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", _QDRANT_HOLDER, str(path), str(marker)])
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if holder.poll() is not None:
            pytest.fail(f"the Qdrant holder ended (rc {holder.returncode}) before it held {path}")
        if time.monotonic() > deadline:
            holder.kill()
            pytest.fail(f"the Qdrant holder never held {path}")
        time.sleep(0.05)
    return holder
