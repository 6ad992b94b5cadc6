"""Run the training entry point on this machine, with SageMaker's folder conventions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ragdag.stores.object_store import ObjectStore
from ragdag.training.job import TrainingJob


def run_local_training(store: ObjectStore, job: TrainingJob) -> dict:
    """Stage the channels, run ``python -m ragdag.training.train`` in a child process (as a
    container would), upload ``model.tar.gz``; return the job's metrics."""
    with tempfile.TemporaryDirectory(prefix=f"{job.name}-") as tmp:
        root = Path(tmp)
        channels = {"train": job.train_key, "test": job.test_key}
        for channel, key in channels.items():
            (root / channel).mkdir()
            (root / channel / Path(key).name).write_bytes(store.get_bytes(key))
        model_dir = root / "model"
        args = [f"--{k.replace('_', '-')}={v}" for k, v in sorted(job.hyperparameters.items())]
        env = {
            **os.environ,
            "SM_CHANNEL_TRAIN": str(root / "train"),
            "SM_CHANNEL_TEST": str(root / "test"),
            "SM_MODEL_DIR": str(model_dir),
        }
        completed = subprocess.run(
            [sys.executable, "-m", "ragdag.training.train", *args],
            env=env, capture_output=True, text=True, timeout=3600,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"training job {job.name} failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}"
            )
        archive = root / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(model_dir.iterdir()):
                tar.add(path, arcname=path.name)
        store.put_bytes(job.artifact_key, archive.read_bytes())
        return json.loads((model_dir / "metrics.json").read_text())
