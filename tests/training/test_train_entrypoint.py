"""The entry point on its own, as SageMaker runs it: a copy of train.py (with only what
sourcedir.tar.gz holds beside it) in a clean folder, channels and model dir from SM_* variables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_fixtures import write_channels

TRAINING_DIR = Path(__file__).resolve().parents[2] / "include" / "ragdag" / "training"
FAST_ARGS = [
    "--max_steps=20",
    "--batch_size=4",
    "--gradient_accumulation_steps=1",
    "--learning_rate=1e-3",
    "--max_seq_length=256",
    "--num_threads=1",
    "--dpo_max_steps=2",
    "--dataset_version=v-test",
]


def run_entry_point(tmp_path: Path, *args: str, preference: bool = True, name: str = "model") -> tuple[dict, Path]:
    source = tmp_path / "source"
    if not source.exists():
        (source / "tiny_llama").mkdir(parents=True)
        shutil.copy(TRAINING_DIR / "train.py", source / "train.py")
        shutil.copy(TRAINING_DIR / "tiny_llama" / "config.json", source / "tiny_llama" / "config.json")
        write_channels(tmp_path / "input", preference=preference)
    model_dir = tmp_path / name
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "SM_CHANNEL_TRAIN": str(tmp_path / "input" / "train"),
        "SM_CHANNEL_TEST": str(tmp_path / "input" / "test"),
        "SM_MODEL_DIR": str(model_dir),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / f"{name}-output"),
    }
    if preference:
        env["SM_CHANNEL_PREFERENCE"] = str(tmp_path / "input" / "preference")
    # No PYTHONPATH and a folder without the ragdag package: train.py must stand alone.
    result = subprocess.run(
        [sys.executable, "train.py", *args], cwd=source, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert json.loads(result.stdout.strip().splitlines()[-1])["eval_loss"] == metrics["eval_loss"]
    return metrics, model_dir


@pytest.mark.slow  # trains a model for real
def test_full_fine_tune_of_the_tiny_default_is_a_loadable_model(tmp_path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    metrics, model_dir = run_entry_point(tmp_path, *FAST_ARGS)
    assert metrics["train_loss_last"] < metrics["train_loss_first"], "training lowers the loss"
    assert metrics["eval_loss"] < metrics["base_eval_loss"], "and the test loss, on another page"
    assert metrics["sft_steps"] == 20 and metrics["dpo_steps"] == 2 and metrics["adapter"] is False
    assert (tmp_path / "model-output" / "metrics.json").is_file()
    card = (model_dir / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n") and "v-test" in card and "## Intended use" in card

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = tokenizer("### Instruction:\nExplain feature stores.\n\n### Response:\n", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert model.num_parameters() < 5_000_000 and torch.is_tensor(out)


@pytest.mark.slow  # trains a model for real
def test_same_seed_same_metrics_on_cpu(tmp_path) -> None:
    first, _ = run_entry_point(tmp_path, *FAST_ARGS, name="first")
    second, _ = run_entry_point(tmp_path, *FAST_ARGS, name="second")
    other, _ = run_entry_point(tmp_path, *FAST_ARGS, "--seed=7", name="other")
    varying = {"seconds"}
    assert {k: v for k, v in first.items() if k not in varying} == {k: v for k, v in second.items() if k not in varying}
    assert other["train_losses"] != first["train_losses"], "the seed matters"


@pytest.mark.slow  # trains a model for real
def test_a_base_model_is_fine_tuned_with_a_lora_adapter(tmp_path) -> None:
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    sys.path.insert(0, str(TRAINING_DIR))
    try:
        import train as entry  # the standalone module, as SageMaker imports it
    finally:
        sys.path.remove(str(TRAINING_DIR))
    # A tiny random Llama saved like a hub checkpoint (nothing can be downloaded here).
    base = tmp_path / "base-llama"
    tokenizer = entry.train_tokenizer(["feature stores keep features consistent " * 20], 300)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    ).save_pretrained(base)
    tokenizer.save_pretrained(base)

    metrics, model_dir = run_entry_point(
        tmp_path,
        *FAST_ARGS,
        f"--base_model={base}",
        "--lora_r=8",
        "--lora_alpha=16",
        "--learning_rate=5e-3",
        preference=False,
    )
    assert metrics["adapter"] is True and metrics["dpo_steps"] == 0 and metrics["base_model"] == str(base)
    assert metrics["train_loss_last"] < metrics["train_loss_first"]
    adapter = json.loads((model_dir / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["base_model_name_or_path"]) == (8, 16, str(base))
    assert set(adapter["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert not (model_dir / "model.safetensors").exists(), "an adapter, not a copy of the base weights"
    card = (model_dir / "README.md").read_text()
    assert "library_name: peft" in card and f"base_model: {base}" in card

    model = AutoPeftModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok("Explain feature stores.", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=4, do_sample=False).shape[1] > ids["input_ids"].shape[1]


def test_an_empty_channel_is_refused(tmp_path) -> None:
    for name in ("train", "test"):
        (tmp_path / name).mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(TRAINING_DIR / "train.py"),
            f"--train_dir={tmp_path / 'train'}",
            f"--test_dir={tmp_path / 'test'}",
            f"--model_dir={tmp_path / 'model'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "0 samples: too little text to train on" in result.stderr


@pytest.mark.parametrize("bad", ["--prompt_template=chatml", "--lora_rank=8"])
def test_bad_arguments_are_refused(tmp_path, bad: str) -> None:
    result = subprocess.run(
        [sys.executable, str(TRAINING_DIR / "train.py"), bad], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and bad.split("=")[0].lstrip("-") in result.stderr
