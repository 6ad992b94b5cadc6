"""The embedded MongoDB: an ``nx-27017`` wire-protocol server on an SQLite file, run by the project.

pymongo talks to it over TCP exactly as to a real MongoDB, so there is one code path. It is the
default when no ``mongo_default`` connection exists; ``ragdag services start|stop|status`` manage it,
and the test suite starts its own on a free port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragdag.local_ports import free_port, port_open

log = logging.getLogger(__name__)
STATE_FILE = "server.json"
# Held while one process checks for and starts the server: the others wait, then connect to it.
START_LOCK_FILE = "start.lock"


@dataclass(frozen=True)
class EmbeddedMongoStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_executable() -> str:
    # The console script sits beside the interpreter in a venv; fall back to PATH.
    candidate = Path(sys.executable).with_name("nx-27017")
    found = str(candidate) if candidate.exists() else shutil.which("nx-27017")
    if not found:
        raise RuntimeError("nx-27017 is not installed: pip install -r requirements.txt")
    return found


def status(data_dir: Path) -> EmbeddedMongoStatus:
    state_path = data_dir / STATE_FILE
    if not state_path.exists():
        return EmbeddedMongoStatus(False, None, None, data_dir)
    try:
        state = json.loads(state_path.read_text())
        pid, port = int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):  # removed or garbled meanwhile: not up
        return EmbeddedMongoStatus(False, None, None, data_dir)
    running = _pid_alive(pid) and port_open(port)
    return EmbeddedMongoStatus(running, pid, port, data_dir)


@contextlib.contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``data_dir`` across processes (flock: released when its holder dies)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / START_LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(data_dir: Path, port: int, timeout_s: float = 30.0) -> EmbeddedMongoStatus:
    """Start the server with its files under ``data_dir`` on ``port``, or on a free port when
    another process holds that one; when it is already up, return how to connect to it.

    Safe to call from many processes at once (8 crawl tasks starting together): one starts the
    server under a file lock, the others wait for it and then find it running.
    """
    current = status(data_dir)
    if current.running:
        return current
    with _start_lock(data_dir):
        current = status(data_dir)  # another process may have started it while we waited
        if current.running:
            return current
        return _spawn(data_dir, port, timeout_s)


def _spawn(data_dir: Path, port: int, timeout_s: float) -> EmbeddedMongoStatus:
    if port_open(port):
        # Clients find the server through its state file, so any free port serves as well.
        log.warning("port %s is taken by another process; the embedded MongoDB takes a free port", port)
        port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "server.log"
    process = subprocess.Popen(
        [
            _server_executable(),
            "--data-dir",
            str(data_dir / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-file",
            str(log_file),
            "--pid-file",
            str(data_dir / "server.pid"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log_file.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # outlives the task or command that started it
    )
    deadline = time.monotonic() + timeout_s
    while not port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"embedded MongoDB exited with {process.returncode}; see {log_file}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"embedded MongoDB did not listen on {port} in {timeout_s}s")
        time.sleep(0.1)
    # Written whole or not at all: a process that did not take the lock may read it any time.
    partial = data_dir / f"{STATE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps({"pid": process.pid, "port": port}))
    os.replace(partial, data_dir / STATE_FILE)
    return status(data_dir)


def stop(data_dir: Path, timeout_s: float = 10.0) -> bool:
    """Stop the server if it runs; return whether one was stopped."""
    current = status(data_dir)
    state_path = data_dir / STATE_FILE
    if current.pid is None or not _pid_alive(current.pid):
        state_path.unlink(missing_ok=True)
        return False
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _pid_alive(current.pid) and time.monotonic() < deadline:
        try:  # reap it when we are its parent, so it does not linger as a zombie
            os.waitpid(current.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _pid_alive(current.pid):
        os.kill(current.pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return True
