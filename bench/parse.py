"""DAG parse time: import each DAG file in a fresh interpreter and print how long it took.

Target: under 0.2 s per file. Printed per file: the raw import time in a fresh interpreter that has
imported ``airflow.sdk`` already, and the same minus a baseline measured in the same run: a file
that only declares one Asset. The first Asset of a process makes Airflow discover its providers'
URI handlers (~0.13 s); the dag-processor pays that once per process, not once per DAG file.

    .venv/bin/python bench/parse.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
REPEATS = 3
TARGET_S = 0.2

PROBE = """
import time, runpy, sys
import airflow.sdk
started = time.perf_counter()
if sys.argv[1] == "-":
    airflow.sdk.Asset("s3://baseline/asset")
else:
    runpy.run_path(sys.argv[1])
print(time.perf_counter() - started)
"""


def timed(path: str) -> float:
    runs = [
        float(subprocess.run([sys.executable, "-c", PROBE, path], capture_output=True, text=True, check=True).stdout)
        for _ in range(REPEATS)
    ]
    return statistics.median(runs)


def main() -> int:
    baseline = timed("-")
    print(f"{'dag file':32s} {'raw s':>7s} {'net s':>7s} {'net/target':>11s}")
    worst = 0.0
    for path in sorted(DAGS_DIR.glob("*.py")):
        raw = timed(str(path))
        net = raw - baseline
        worst = max(worst, raw)
        print(f"{path.name:32s} {raw:7.3f} {net:7.3f} {net / TARGET_S:10.2f}x")
    print(
        f"baseline (one Asset, airflow.sdk already imported): {baseline:.3f} s; "
        f"worst raw {worst:.3f} s = {worst / TARGET_S:.2f}x the {TARGET_S} s target"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
