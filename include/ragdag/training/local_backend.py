"""Run the training entry point on this machine, with SageMaker's folder conventions."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ragdag.errors import PermanentError
from ragdag.stores.object_store import ObjectStore
from ragdag.training.artifacts import pack_model_dir
from ragdag.training.job import TrainingJob, entry_point_arguments

ENTRY_MODULE = "ragdag.training.train"


class TrainingProcessFailed(PermanentError, RuntimeError):
    """train.py exited with an error; the message ends with the tail of its stderr."""


def stage_channels(store: ObjectStore, job: TrainingJob, root: Path) -> dict[str, Path]:
    """The version's files as SageMaker would download its channels (train, test, preference)."""
    channels = {"train": [job.train_key], "test": [job.test_key]}
    if job.preference_keys:
        channels["preference"] = [job.preference_keys["train"], job.preference_keys["test"]]
    folders = {}
    for channel, keys in channels.items():
        folder = root / "input" / "data" / channel
        folder.mkdir(parents=True)
        for key in keys:
            if store.exists(key):
                (folder / Path(key).name).write_bytes(store.get_bytes(key))
        folders[channel] = folder
    return folders


def run_local_training(
    store: ObjectStore, job: TrainingJob, *, num_threads: int, timeout_s: float, model_cache_dir: Path | None = None
) -> bytes:
    """Run ``python -m ragdag.training.train`` in a child process (as a container would) and return
    the packed model directory (``model.tar.gz``)."""
    with tempfile.TemporaryDirectory(prefix=f"{job.job_name}-") as tmp:
        root = Path(tmp)
        folders = stage_channels(store, job, root)
        model_dir = root / "model"
        args = [
            f"--{name}={value}"
            for name, value in sorted(entry_point_arguments(job.hyperparameters, backend="local").items())
        ]
        args.append(f"--num_threads={num_threads}")
        args.append("--eval_in_job=false")  # the evaluate task measures base and candidate on the same split
        if model_cache_dir is not None:
            args.append(f"--model_cache_dir={model_cache_dir}")
        env = {
            **os.environ,
            **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in folders.items()},
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        if "preference" not in folders:
            env.pop("SM_CHANNEL_PREFERENCE", None)
        try:
            completed = subprocess.run(
                [sys.executable, "-m", ENTRY_MODULE, *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as error:
            raise TrainingProcessFailed(f"training job {job.job_name} ran over {timeout_s:.0f} s") from error
        if completed.returncode != 0:
            raise TrainingProcessFailed(
                f"training job {job.job_name} failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}"
            )
        return pack_model_dir(model_dir)
