"""Which base models a training job may start from: an allow-list, checked before a job is planned.

A ``base_model`` (from the settings or a run's conf) is one of:

- empty: the tiny local Llama (``training/tiny_llama``, fast tests only);
- the name of a model shipped inside an installed package (``ragdag.packaged_models``: the default,
  ``smollm2-135m-instruct``), kept as its name so that a job's id does not depend on the machine;
- a local model (a folder, or a single-file model such as a GGUF) inside the base models folder
  (``RAGDAG_TRAINING_BASE_MODELS_DIR``, by absolute path or relative to it) or inside an installed
  model package (:data:`MODEL_PACKAGES`);
- a Hugging Face id matching ``RAGDAG_TRAINING_BASE_MODEL_HUB_PATTERN``.

Anything else (``/etc``, ``../../root/.ssh``, an id of an unknown organisation) is refused with
:class:`BaseModelNotAllowed`, which names what is allowed. Local paths are resolved (symlinks
followed) before they are compared, so a link out of the folder is refused too.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragdag.errors import PermanentError
from ragdag.packaged_models import PACKAGED_BASES, package_dir
from ragdag.settings import Settings

# Installed Python packages that ship a base model in their folder (found without importing them).
MODEL_PACKAGES = tuple(sorted({entry.package for entry in PACKAGED_BASES.values()}))


class BaseModelNotAllowed(PermanentError, ValueError):
    """A ``base_model`` outside the allow-list; the message says what is allowed (the training job
    raises it as :class:`ragdag.training.job.InvalidTrainConf`)."""


def allowed_dirs(settings: Settings) -> list[Path]:
    """Folders whose contents may be a base model: the base models folder, then the packages'."""
    packages = [folder for folder in map(package_dir, MODEL_PACKAGES) if folder is not None]
    return [settings.base_models_dir.expanduser().resolve(), *packages]


def _inside(path: Path, folder: Path) -> bool:
    return path != folder and path.is_relative_to(folder)


def check_base_model(settings: Settings, value: str, *, given_as: str) -> str:
    """The base model to train from (a resolved local path, a hub id, or "" for the tiny model);
    :class:`BaseModelNotAllowed`, naming where ``value`` was ``given_as``, if it is none of the
    allowed ones."""
    value = value.strip()
    if not value or value in PACKAGED_BASES:
        return value
    pattern = settings.training_base_model_hub_pattern
    looks_local = value.startswith(("/", ".", "~")) or "\\" in value or value.count("/") != 1
    if not looks_local and pattern and re.fullmatch(pattern, value):
        return value
    folders = allowed_dirs(settings)
    given = Path(value).expanduser()
    candidates = [given] if given.is_absolute() else [folder / given for folder in folders]
    for candidate in candidates:
        resolved = candidate.resolve()
        # A package's own folder is its model; the base models folder itself is not one.
        if resolved.exists() and (resolved in folders[1:] or any(_inside(resolved, f) for f in folders)):
            return str(resolved)
    hub = f"a Hugging Face id matching {pattern!r}" if pattern else "no Hugging Face id (the pattern is empty)"
    raise BaseModelNotAllowed(
        f"{given_as}: {value!r} is not an allowed base model. "
        f"Allowed: empty (the tiny local model), an existing model inside {', '.join(map(str, folders))}, or {hub}; "
        "change RAGDAG_TRAINING_BASE_MODELS_DIR or RAGDAG_TRAINING_BASE_MODEL_HUB_PATTERN to allow more."
    )
