"""Where a dataset version lives in the object store: the one owner of the layout.

::

    instruct_datasets/
      LATEST                         the newest published version (one line)
      <version>/
        train.jsonl                  SFT samples (Alpaca naming: instruction, output, + metadata)
        test.jsonl
        preference/train.jsonl       DPO pairs (TRL's format: prompt, chosen, rejected, + metadata)
        preference/test.jsonl
        README.md                    the dataset card (Hugging Face YAML front matter)
        manifest.json                written last: its presence marks a complete version
    generation_cache/
      <kind>/<key[:2]>/<key>.json    one cached generation (datasets.generation_cache): its key is
                                     the sha256 of the named parts it was made from

A version is written once and never changed. Readers (training, the CLI, the UI) ask this module
for keys instead of spelling paths; a version name is one path segment (:data:`VERSION_NAME`), so
no key built from a name given by a user (``../../etc``) leaves the layout.
"""

from __future__ import annotations

import re

from ragdag.errors import PermanentError

DATASETS_PREFIX = "instruct_datasets"
LATEST_KEY = f"{DATASETS_PREFIX}/LATEST"

TRAIN_FILE = "train.jsonl"
TEST_FILE = "test.jsonl"
PREFERENCE_TRAIN_FILE = "preference/train.jsonl"
PREFERENCE_TEST_FILE = "preference/test.jsonl"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
# Every file of a version but the manifest, in the order they are written.
DATA_FILES = (TRAIN_FILE, TEST_FILE, PREFERENCE_TRAIN_FILE, PREFERENCE_TEST_FILE, CARD_FILE)


GENERATION_CACHE_PREFIX = "generation_cache"


def generation_cache_key(kind: str, digest: str) -> str:
    """Key of one cached generation of ``kind`` (a slug) whose parts hash to ``digest``."""
    return f"{GENERATION_CACHE_PREFIX}/{kind}/{digest[:2]}/{digest}.json"


# One path segment: letters, digits, dots, dashes and underscores, not starting with a dot.
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class InvalidVersionName(PermanentError, ValueError):
    """A dataset version name that cannot be one (a path, an empty or over-long name)."""


def check_version_name(version: str) -> str:
    """``version`` if it can be a version's name; :class:`InvalidVersionName` otherwise."""
    if not VERSION_NAME.fullmatch(version):
        raise InvalidVersionName(
            f"{version!r} is not a dataset version name (letters, digits, '.', '-', '_'; see `ragdag datasets list`)"
        )
    return version


def version_prefix(version: str) -> str:
    return f"{DATASETS_PREFIX}/{check_version_name(version)}"


def file_key(version: str, name: str) -> str:
    return f"{version_prefix(version)}/{name}"


Split = str  # "train" or "test"
SPLITS: tuple[Split, ...] = ("train", "test")
_SFT_FILES = {"train": TRAIN_FILE, "test": TEST_FILE}
_PREFERENCE_FILES = {"train": PREFERENCE_TRAIN_FILE, "test": PREFERENCE_TEST_FILE}


def sft_key(version: str, split: Split) -> str:
    """Key of the SFT file of one split (no function is named test_*: pytest would collect it)."""
    return file_key(version, _SFT_FILES[split])


def preference_key(version: str, split: Split) -> str:
    return file_key(version, _PREFERENCE_FILES[split])


def card_key(version: str) -> str:
    return file_key(version, CARD_FILE)


def manifest_key(version: str) -> str:
    return file_key(version, MANIFEST_FILE)


def version_of_manifest_key(key: str) -> str | None:
    """``instruct_datasets/<version>/manifest.json`` -> ``<version>``; None for any other key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == DATASETS_PREFIX and parts[2] == MANIFEST_FILE:
        return parts[1]
    return None


def sft_data_files(version: str) -> dict[str, str]:
    """Split name -> key of the SFT files (``datasets.load_dataset("json", data_files=...)``)."""
    return {split: sft_key(version, split) for split in SPLITS}


def preference_data_files(version: str) -> dict[str, str]:
    return {split: preference_key(version, split) for split in SPLITS}
