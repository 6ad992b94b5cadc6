"""A trained model as stored: ``model.tar.gz`` (SageMaker's output format) plus its card and
metrics published beside it, so a person or a tool reads them without unpacking the weights."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from ragdag.stores.object_store import ObjectStore
from ragdag.training.job import TrainingJob

CARD_FILE = "README.md"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"


def pack_model_dir(model_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            if path.is_file() and path.name != "training_args.bin":
                tar.add(path, arcname=path.name)
    return buffer.getvalue()


def unpack_model(archive: bytes, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")  # refuses absolute paths and links out of the folder
    return destination


def read_member(archive: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            member = tar.extractfile(name)
        except KeyError:
            return None
        return member.read() if member else None


def publish_model_files(store: ObjectStore, job: TrainingJob, archive: bytes) -> tuple[dict, dict[str, str]]:
    """Copy the card and metrics out of the archive next to it; return (metrics, uris)."""
    uris = {"artifact_uri": store.uri(job.artifact_key)}
    metrics_bytes = read_member(archive, METRICS_FILE)
    if metrics_bytes is None:
        raise ValueError(f"{uris['artifact_uri']} holds no {METRICS_FILE}: not written by ragdag's train.py")
    uris["metrics_uri"] = store.put_bytes(job.file_key(METRICS_FILE), metrics_bytes)
    card = read_member(archive, CARD_FILE)
    if card is not None:
        uris["card_uri"] = store.put_bytes(job.file_key(CARD_FILE), card)
    return json.loads(metrics_bytes), uris
