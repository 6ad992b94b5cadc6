from __future__ import annotations

import json
import subprocess
import sys

from ragdag.models import Category, InstructSample


def _write_channel(folder, n: int, seed_text: str) -> None:
    folder.mkdir(parents=True)
    lines = [
        InstructSample(
            instruction=f"Write about topic {i}", output=f"{seed_text} number {i}. " * 5,
            document_id=f"d{i}", author_full_name="A", category=Category.ARTICLES,
        ).model_dump_json()
        for i in range(n)
    ]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")


def test_entry_point_trains_with_sagemaker_conventions(tmp_path) -> None:
    _write_channel(tmp_path / "train", 20, "Feature stores keep features consistent")
    _write_channel(tmp_path / "test", 4, "Feature stores keep features consistent")
    env = {
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_TEST": str(tmp_path / "test"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ragdag.training.train", "--steps=40"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics == json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["train_loss_last"] < metrics["train_loss_first"], "training lowers the loss"
    assert metrics["steps"] == 40 and metrics["test_bytes"] > 0
    assert (tmp_path / "model" / "model.pt").stat().st_size > 0


def test_entry_point_refuses_an_empty_channel(tmp_path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "ragdag.training.train", f"--train={tmp_path / 'train'}",
         f"--test={tmp_path / 'test'}", f"--model-dir={tmp_path / 'model'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "too little text" in result.stderr
