"""Local training cost: the entry point on the sample-site dataset, 1 vs 2 torch threads, and the
share of a job spent in the optimizer steps (the rest is imports, tokenizer training, saving).

Prints seconds per run and the ratio 2 threads / 1 thread measured in the same run. On a machine
whose cores are busy, two threads can be much slower than one (OpenMP threads wait for each
other), which is why RAGDAG_TRAINING_NUM_THREADS defaults to 1.

    .venv/bin/python bench/train.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "training"))
from dataset_fixtures import write_channels  # noqa: E402


def run(channels: dict[str, Path], model_dir: Path, steps: int, threads: int) -> tuple[float, dict]:
    env = {
        **os.environ,
        "SM_CHANNEL_TRAIN": str(channels["train"]),
        "SM_CHANNEL_TEST": str(channels["test"]),
        "SM_CHANNEL_PREFERENCE": str(channels["preference"]),
        "SM_MODEL_DIR": str(model_dir),
        "TOKENIZERS_PARALLELISM": "false",
    }
    args = [
        f"--max_steps={steps}",
        "--batch_size=4",
        "--gradient_accumulation_steps=1",
        "--learning_rate=1e-3",
        "--max_seq_length=256",
        f"--num_threads={threads}",
        "--dpo_max_steps=5",
    ]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "include/ragdag/training/train.py"), *args],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started, json.loads((model_dir / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    steps = parser.parse_args().steps
    with tempfile.TemporaryDirectory() as tmp:
        channels = write_channels(Path(tmp) / "input")
        one, m1 = run(channels, Path(tmp) / "one", steps, 1)
        two, m2 = run(channels, Path(tmp) / "two", steps, 2)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, wall, metrics in (("1 thread", one, m1), ("2 threads", two, m2)):
        print(
            f"{name:9s}: {wall:6.1f} s wall, {metrics['seconds']:6.1f} s in train.py, "
            f"{steps} SFT + {metrics['dpo_steps']} DPO steps, eval loss {metrics['eval_loss']:.4f}"
        )
    print(f"ratio 2 threads / 1 thread: {two / one:.2f}")


if __name__ == "__main__":
    main()
