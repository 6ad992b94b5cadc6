"""Eight processes starting the embedded MongoDB at the same moment, as 8 crawl tasks do: one server
starts, every process gets it, each can use it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ragdag.stores import embedded_mongo

# Each process sleeps until the same instant, then starts the server and writes to it.
_STARTER = """
import json, sys, time
import pymongo
from pathlib import Path
from ragdag.stores import embedded_mongo
data_dir, port, at, n = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
time.sleep(max(0.0, at - time.time()))
server = embedded_mongo.start(data_dir, port)
with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=10_000) as client:
    client.ragdag.starts.insert_one({"_id": n})
print(json.dumps({"pid": server.pid, "port": server.port}))
"""


def _servers_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any("nx-27017" in part for part in cmdline[:2]) and str(data_dir / "db") in cmdline:
            found.append(process)
    return found


def test_eight_processes_starting_at_once_share_one_server(tmp_path: Path) -> None:
    port = embedded_mongo.free_port()
    at = time.time() + 3.0  # time for all eight interpreters to import and wait
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", _STARTER, str(tmp_path), str(port), str(at), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    try:
        results = [starter.communicate(timeout=120) for starter in starters]
        failures = [err[-2000:] for starter, (_, err) in zip(starters, results, strict=True) if starter.returncode]
        assert failures == []
        servers = {tuple(json.loads(out.strip().splitlines()[-1]).values()) for out, _ in results}
        assert len(servers) == 1  # every process got the same server (pid, port)
        assert len(_servers_of(tmp_path)) == 1  # and only one ever ran
        status = embedded_mongo.status(tmp_path)
        assert status.running and (status.pid, status.port) == next(iter(servers))
        import pymongo

        with pymongo.MongoClient(status.uri, serverSelectionTimeoutMS=5000) as client:
            assert sorted(doc["_id"] for doc in client.ragdag.starts.find()) == list(range(8))
    finally:
        for starter in starters:
            if starter.poll() is None:
                starter.kill()
        embedded_mongo.stop(tmp_path)
        for leftover in _servers_of(tmp_path):
            leftover.kill()
