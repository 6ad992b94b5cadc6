"""What one training job is: the run's conf, its hyperparameters, its inputs and where its outputs go.

The one owner of the model storage layout (``models/<job>/…``, the layout SageMaker uses for a
job's output, kept for the local backend too) and of the hyperparameter names ``train.py`` reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragdag.datasets.layout import preference_key, sft_key
from ragdag.errors import PermanentError
from ragdag.packaged_models import PACKAGED_BASES, package_spec
from ragdag.settings import Settings
from ragdag.training.base_models import BaseModelNotAllowed, check_base_model

MODELS_PREFIX = "models"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class HyperparameterOverrides(BaseModel):
    """What a REST ``conf`` may change for one run (each bounded; unknown names are refused)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str | None = Field(None, max_length=500)
    steps: int | None = Field(None, ge=0, le=1_000_000)
    epochs: float | None = Field(None, gt=0, le=100)
    learning_rate: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=1024)
    gradient_accumulation_steps: int | None = Field(None, ge=1, le=1024)
    max_seq_length: int | None = Field(None, ge=16, le=131_072)
    prompt_template: Literal["chat", "alpaca", "plain"] | None = None
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0, le=1)
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_layers: int | None = Field(None, ge=0, le=1024)
    lora_alpha: int | None = Field(None, ge=1, le=4096)
    lora_dropout: float | None = Field(None, ge=0, lt=1)
    lora_target_modules: str | None = Field(None, pattern=r"^[A-Za-z0-9_.,-]{1,500}$")
    dpo: bool | None = None
    dpo_steps: int | None = Field(None, ge=0, le=1_000_000)
    dpo_beta: float | None = Field(None, gt=0, le=100)
    dpo_learning_rate: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class TrainConf(BaseModel):
    """The ``conf`` a REST trigger of ``train_model`` may carry."""

    model_config = ConfigDict(extra="forbid")

    dataset_version: str | None = Field(None, pattern=VERSION_PATTERN)
    hyperparameters: HyperparameterOverrides = Field(default_factory=HyperparameterOverrides)


class InvalidTrainConf(PermanentError, ValueError):
    """A run's conf is wrong; the message names the field to fix."""


def parse_train_conf(conf: dict | None) -> TrainConf:
    try:
        return TrainConf.model_validate(conf or {})
    except ValidationError as error:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()]
        raise InvalidTrainConf("invalid train_model conf: " + "; ".join(lines)) from None


class Hyperparameters(BaseModel):
    """Every argument of ``train.py`` a job sets, resolved from the settings and the conf."""

    base_model: str
    steps: int
    epochs: float
    learning_rate: float
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    prompt_template: str
    warmup_ratio: float
    weight_decay: float
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    lora_layers: int
    lora_target_modules: str
    dpo: bool
    dpo_steps: int
    dpo_beta: float
    dpo_learning_rate: float
    seed: int

    def as_arguments(self) -> dict[str, str]:
        """``train.py``'s argument names -> values as strings (SageMaker's HyperParameters shape)."""
        values = self.model_dump()
        renamed = {"steps": "max_steps", "dpo_steps": "dpo_max_steps"}
        return {renamed.get(k, k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}


def resolve_hyperparameters(settings: Settings, overrides: HyperparameterOverrides | None = None) -> Hyperparameters:
    defaults = {
        "base_model": settings.training_base_model,
        "steps": settings.training_steps,
        "epochs": settings.training_epochs,
        "learning_rate": settings.training_learning_rate,
        "batch_size": settings.training_batch_size,
        "gradient_accumulation_steps": settings.training_gradient_accumulation_steps,
        "max_seq_length": settings.training_max_seq_length,
        "prompt_template": settings.training_prompt_template,
        "warmup_ratio": settings.training_warmup_ratio,
        "weight_decay": settings.training_weight_decay,
        "lora_r": settings.training_lora_r,
        "lora_alpha": settings.training_lora_alpha,
        "lora_dropout": settings.training_lora_dropout,
        "lora_layers": settings.training_lora_layers,
        "lora_target_modules": settings.training_lora_target_modules,
        "dpo": settings.training_dpo,
        "dpo_steps": settings.training_dpo_steps,
        "dpo_beta": settings.training_dpo_beta,
        "dpo_learning_rate": settings.training_dpo_learning_rate,
        "seed": settings.dataset_seed,
    }
    given = overrides.model_dump(exclude_none=True) if overrides else {}
    from_conf = "base_model" in given
    given_as = "invalid train_model conf: hyperparameters.base_model" if from_conf else "RAGDAG_TRAINING_BASE_MODEL"
    try:
        base = check_base_model(settings, given.get("base_model", defaults["base_model"]), given_as=given_as)
    except BaseModelNotAllowed as error:
        raise InvalidTrainConf(str(error)) from None
    return Hyperparameters(**{**defaults, **given, "base_model": base})


class TrainingJob(BaseModel):
    model_id: str
    job_name: str
    attempt: int
    dataset_version: str
    manifest_uri: str
    manifest_sha256: str
    hyperparameters: dict[str, str]  # train.py's arguments
    train_key: str
    test_key: str
    preference_keys: dict[str, str] | None  # split -> key; None: no preference split, no DPO
    output_prefix: str = MODELS_PREFIX

    @property
    def base_model(self) -> str:
        return self.hyperparameters.get("base_model", "")

    @property
    def artifact_key(self) -> str:
        return f"{self.output_prefix}/{self.job_name}/output/model.tar.gz"

    def file_key(self, name: str) -> str:
        """Files published beside the artifact: README.md (the card), metrics.json, evaluation.json."""
        return f"{self.output_prefix}/{self.job_name}/{name}"

    @property
    def source_key(self) -> str:
        return f"{self.output_prefix}/{self.job_name}/source/sourcedir.tar.gz"


def model_id_for(dataset_version: str, arguments: dict[str, str]) -> str:
    """Named after its inputs, so the same dataset with the same hyperparameters is recognised
    (SageMaker job names: <= 63 chars, [a-zA-Z0-9-]; the attempt suffix keeps them unique)."""
    digest = hashlib.sha256(json.dumps([dataset_version, arguments], sort_keys=True).encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9-]", "-", dataset_version.removeprefix("v-"))[:16].strip("-")
    return f"ragdag-{readable}-{digest}"


def plan_training_job(
    settings: Settings,
    manifest: Any,
    manifest_bytes: bytes,
    hyperparameters: Hyperparameters,
    *,
    attempt: int = 1,
    has_preference: bool = False,
) -> TrainingJob:
    version = manifest.version
    arguments = hyperparameters.as_arguments()
    arguments["dataset_version"] = version
    model_id = model_id_for(version, arguments)
    return TrainingJob(
        model_id=model_id,
        job_name=f"{model_id}-{attempt}",
        attempt=attempt,
        dataset_version=version,
        manifest_uri=manifest.manifest_uri,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        hyperparameters=arguments,
        train_key=sft_key(version, "train"),
        test_key=sft_key(version, "test"),
        preference_keys={s: preference_key(version, s) for s in ("train", "test")} if has_preference else None,
    )


def entry_point_arguments(hyperparameters: dict[str, str], *, backend: Literal["local", "sagemaker"]) -> dict[str, str]:
    """The job's hyperparameters as train.py takes them on ``backend``. A packaged base model's name
    becomes its file here (``<package>:<file>``) and, on SageMaker, where the package is not
    installed, the hub model it was made from; the registry and the model id keep the name."""
    base = hyperparameters.get("base_model", "")
    if base not in PACKAGED_BASES:
        return dict(hyperparameters)
    hub_id = PACKAGED_BASES[base].hub_id
    return {
        **hyperparameters,
        "base_model": package_spec(base) if backend == "local" else hub_id,
        "base_model_hub_id": hub_id,
    }
