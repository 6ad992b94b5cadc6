"""Killing a child process for real at the point it reports: it writes a marker file where it
holds (sleeping until killed), the test waits for the marker and sends SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
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
