"""The export cache: the embedding model as an ONNX / OpenVINO graph, made once, offline, under the data dir.

The graph is the sentence-transformers pipeline of the model (``modules.json``): the transformer,
mean pooling over the attention mask and L2 normalization, traced with ``torch.onnx.export`` from
the files the model ships (nothing is downloaded). An export is checked against the torch model on
probe texts before it is kept, so a bad trace never reaches the feature store.

Layout (owned here): ``<data_dir>/models/<model slug>/<backend>-<key>/`` holding the graph,
the tokenizer files and ``export.json``. The key hashes the model id, its files, the backend, the
export recipe and the versions of every library that shapes the graph, so an upgrade re-exports
instead of reusing a stale file. One process per machine exports: it holds ``<backend>-<key>.lock``
(``fcntl.flock``, released by the kernel if the process dies) while it writes a private temp folder
and renames it into place (atomic on one file system). Workers that start meanwhile wait for the
lock, then find the export made and load it; they never export it again.

The int8 export (``RAGDAG_EMBEDDING_PRECISION=int8``) is the fp32 OpenVINO graph quantized by
NNCF's post-training quantization (``nncf.quantize``, transformer preset: int8 weights and
activations of the MatMuls, SmoothQuant) on real chunks, the calibration set: the sample site's
pages cleaned and chunked by the stage itself. MiniLM's FFN down-projections stay fp32 (int8 there
costs the most agreement for the least speed). It lives beside the fp32 export in
``openvino-int8-<key>/``, the key hashing the fp32 export's, the int8 recipe, NNCF's version and
the calibration pages; ``export.json`` records its lowest cosine to the fp32 graph on the
calibration chunks, and an export below ``MIN_INT8_COSINE`` is refused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

ExportBackend = Literal["onnx", "openvino"]

# Bumped whenever the export below changes what it writes: cached graphs are then made again.
EXPORT_RECIPE = "1"
ONNX_FILE = "model.onnx"
OPENVINO_FILE = "model.xml"  # weights beside it in model.bin
MANIFEST_FILE = "export.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
OPSET = 17
# Agreement with the torch model required before an export is cached (fp32 graphs agree to ~1e-7).
MIN_EXPORT_COSINE = 0.9999
INT8_RECIPE = "1"  # bumped whenever the quantization below changes
# Below this cosine to the fp32 graph on a calibration chunk, the quantization went wrong.
MIN_INT8_COSINE = 0.95
_INT8_FP32_SCOPE = (r".*layer\.\d+/output/dense/MatMul",)  # the FFN down-projections

_LIBRARIES: dict[str, tuple[str, ...]] = {
    "onnx": ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"),
    "openvino": ("torch", "transformers", "sentence-transformers", "onnx", "openvino"),
}
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")  # modules.json of the model
# Probe texts of the export check: varied lengths, so batches carry padding and truncation.
_PROBES = (
    "short",
    "A sentence of middling length, about the feature stage and its vectors.",
    "Code: def f(x):\n    return x * 2  # doubled",
    "long " * 300,
)
exports_made = 0  # exports this process has made (the tests read it to prove the cache is reused)


@dataclass(frozen=True)
class ExportedModel:
    """A cached export: where its graph and tokenizer are, and the shape of what it computes."""

    directory: Path
    backend: ExportBackend
    max_seq_length: int
    dim: int
    pad_token: str

    @property
    def graph(self) -> Path:
        return self.directory / (ONNX_FILE if self.backend == "onnx" else OPENVINO_FILE)

    @property
    def tokenizer_file(self) -> Path:
        return self.directory / "tokenizer.json"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "missing"


def _files_fingerprint(location: str) -> list[tuple[str, int]]:
    """Names and sizes of a model folder's files (a hub id without a folder: nothing to list)."""
    root = Path(location)
    if not root.is_dir():
        return []
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def cache_key(model_id: str, location: str, backend: ExportBackend) -> str:
    recipe = {
        "model_id": model_id,
        "files": _files_fingerprint(location),
        "backend": backend,
        "recipe": EXPORT_RECIPE,
        "libraries": {name: _version(name) for name in _LIBRARIES[backend]},
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def export_dir(cache_root: Path, model_id: str, location: str, backend: ExportBackend) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip("-") or "model"
    return cache_root / slug / f"{backend}-{cache_key(model_id, location, backend)}"


def _read(directory: Path, backend: ExportBackend) -> ExportedModel | None:
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None  # not there yet: export
    try:
        exported = ExportedModel(
            directory,
            backend,
            int(manifest["max_seq_length"]),
            int(manifest["dim"]),
            str(manifest["pad_token"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return exported if exported.graph.is_file() and exported.tokenizer_file.is_file() else None


def exported_model(
    model_id: str,
    location: str,
    backend: ExportBackend,
    cache_root: Path,
    load_model: Callable[[], Any],
    *,
    open_encoder: Callable[..., Any],
) -> ExportedModel:
    """The cached export of ``model_id`` for ``backend``, made first if missing.

    ``load_model`` returns the torch ``SentenceTransformer`` on the CPU; it is called only on a
    cache miss, so a worker with a warm cache never imports torch. ``open_encoder(exported,
    threads=1)`` runs a new export (:func:`ragdag.features.embedding_backends.open_exported`), to
    check its vectors against torch's before it is cached.
    """
    directory = export_dir(cache_root, model_id, location, backend)
    cached = _read(directory, backend)
    if cached is not None:
        return cached
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _export_lock(directory):
        cached = _read(directory, backend)
        if cached is not None:  # made by the process this one waited for
            log.info("using the %s export another process made meanwhile: %s", backend, directory)
            return cached
        log.info("exporting %s for %s into %s (once per machine and version)", model_id, backend, directory)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            _export(load_model(), backend, staging, model_id, open_encoder)
            _move_into_place(staging, directory, backend)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    made = _read(directory, backend)
    if made is None:
        raise RuntimeError(f"export of {model_id} for {backend} left no usable files in {directory}")
    return made


def lock_file(directory: Path) -> Path:
    """The lock held while ``directory`` is exported (beside it, kept: deleting a lock file races)."""
    return directory.with_name(f"{directory.name}.lock")


@contextmanager
def _export_lock(directory: Path) -> Iterator[None]:
    """Exclusive across processes on this machine; waits as long as the holder exports."""
    with lock_file(directory).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish exporting %s", directory.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _move_into_place(staging: Path, directory: Path, backend: ExportBackend) -> None:
    try:
        os.rename(staging, directory)
        return
    except OSError:
        if _read(directory, backend) is not None:
            return  # another worker renamed its export into place first: use that one
    # What is there is unusable (a half-deleted folder, a hand edit): set it aside, then retry once.
    broken = Path(tempfile.mkdtemp(prefix=f".{directory.name}.broken.", dir=directory.parent))
    try:
        os.rename(directory, broken / "old")
    except OSError:
        pass  # gone meanwhile
    try:
        os.rename(staging, directory)
    except OSError as error:
        if _read(directory, backend) is None:
            raise RuntimeError(f"cannot move the export into {directory}: delete that folder") from error
    finally:
        shutil.rmtree(broken, ignore_errors=True)


def _int8_key(fp32: ExportedModel, calibration_dir: Path) -> str:
    recipe = {
        "fp32": fp32.directory.name,
        "recipe": INT8_RECIPE,
        "nncf": _version("nncf"),
        "calibration": _files_fingerprint(str(calibration_dir)),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def int8_dir(fp32: ExportedModel, calibration_dir: Path) -> Path:
    return fp32.directory.with_name(f"{fp32.backend}-int8-{_int8_key(fp32, calibration_dir)}")


def quantized_model(
    fp32: ExportedModel,
    calibration_dir: Path,
    calibration_chunks: Callable[[], list[str]],
    open_graph: Callable[[ExportedModel], Any],
) -> ExportedModel:
    """The int8 export of the fp32 OpenVINO export ``fp32``, made first (under the lock) if missing.

    ``calibration_chunks`` gives the chunks of the pages in ``calibration_dir``; ``open_graph``
    opens an export as an encoder (``features`` and ``encode``). Neither is called on a cache hit.
    """
    if fp32.backend != "openvino":
        raise ValueError("int8 is an OpenVINO export: set RAGDAG_EMBEDDING_BACKEND=openvino")
    directory = int8_dir(fp32, calibration_dir)
    cached = _read(directory, "openvino")
    if cached is not None:
        return cached
    with _export_lock(directory):
        cached = _read(directory, "openvino")
        if cached is not None:
            log.info("using the int8 export another process made meanwhile: %s", directory)
            return cached
        log.info("quantizing %s to int8 with NNCF into %s (once per machine and version)", fp32.directory, directory)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            _quantize(fp32, staging, calibration_chunks(), open_graph)
            _move_into_place(staging, directory, "openvino")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    made = _read(directory, "openvino")
    if made is None:
        raise RuntimeError(f"the int8 export left no usable files in {directory}")
    return made


def _quantize(fp32: ExportedModel, directory: Path, chunks: list[str], open_graph: Callable[..., Any]) -> None:
    global exports_made
    import nncf
    import numpy as np
    import openvino as ov

    if not chunks:
        raise RuntimeError("no calibration chunks for the int8 export: the sample site's pages are missing")
    nncf.set_log_level(logging.WARNING)  # not one line per ignored node in the task log
    reference = open_graph(fp32)
    samples = [reference.features([chunk]) for chunk in chunks]  # one chunk a sample: no padding in the statistics
    quantized = nncf.quantize(
        ov.Core().read_model(str(fp32.graph)),
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
        ignored_scope=nncf.IgnoredScope(patterns=list(_INT8_FP32_SCOPE)),
    )
    ov.save_model(quantized, directory / OPENVINO_FILE, compress_to_fp16=False)
    for name in os.listdir(fp32.directory):  # the tokenizer files (and the fp32 manifest, replaced below)
        if name not in (OPENVINO_FILE, "model.bin"):
            shutil.copy2(fp32.directory / name, directory / name)
    exported = ExportedModel(directory, "openvino", fp32.max_seq_length, fp32.dim, fp32.pad_token)
    cosine = float(
        (open_graph(exported).encode(chunks, batch_size=16) * reference.encode(chunks, batch_size=16)).sum(axis=1).min()
    )
    if not np.isfinite(cosine) or cosine < MIN_INT8_COSINE:
        raise RuntimeError(
            f"the int8 export gives vectors at cosine {cosine:.4f} of the fp32 graph's (< {MIN_INT8_COSINE}): "
            "not cached; set RAGDAG_EMBEDDING_PRECISION=f32"
        )
    manifest = json.loads((fp32.directory / MANIFEST_FILE).read_text())
    manifest.update(
        {
            "precision": "int8",
            "int8_recipe": INT8_RECIPE,
            "nncf": _version("nncf"),
            "calibration_chunks": len(chunks),
            "calibration_min_cosine_to_fp32": cosine,
        }
    )
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    exports_made += 1


# --- the export itself (torch only on this path) -------------------------------------------------


def _check_architecture(model: Any, model_id: str) -> None:
    import torch

    names = [type(module).__name__ for module in model]
    if len(names) not in (2, 3) or tuple(names) != _SUPPORTED_MODULES[: len(names)]:
        raise ValueError(
            f"{model_id} is {names}; the ONNX/OpenVINO export supports Transformer + mean Pooling "
            "(+ Normalize): set RAGDAG_EMBEDDING_BACKEND=torch for this model"
        )
    pooling = model[1].get_config_dict()
    if pooling.get("pooling_mode") not in ("mean", ["mean"]):
        raise ValueError(
            f"{model_id} pools with {pooling.get('pooling_mode')!r}; the export implements mean "
            "pooling only: set RAGDAG_EMBEDDING_BACKEND=torch for this model"
        )
    if not isinstance(model[0].model, torch.nn.Module):
        raise TypeError(f"{model_id}: the transformer of the model is not a torch module")


def _graph_module(model: Any) -> Any:
    """Transformer + mean pooling + normalize, as sentence-transformers computes them."""
    import torch

    class MeanPooledEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return MeanPooledEncoder(model[0].model).eval()


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    features = model.preprocess(texts)
    return {name: features[name] for name in INPUT_NAMES}


def _export_onnx(model: Any, path: Path) -> None:
    import torch

    transformer = model[0].model
    previous = transformer.config._attn_implementation
    # Eager attention traces to plain MatMul/Softmax, which both runtimes fuse; SDPA's trace does not.
    transformer.set_attn_implementation("eager")
    try:
        module = _graph_module(model)
        # The example batch must be padded: the trace then keeps the attention mask in the graph.
        example = tuple(_features(model, list(_PROBES[:2]))[name] for name in INPUT_NAMES)
        axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript exporter deprecation, trace notes
            torch.onnx.export(
                module,
                example,
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True,
            )
    finally:
        transformer.set_attn_implementation(previous)


def _optimize_for_onnxruntime(path: Path, hidden_size: int, heads: int) -> None:
    # ONNX Runtime's own BERT fusions (Attention, SkipLayerNorm, BiasGelu): part of onnxruntime.
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(
        str(path), model_type="bert", num_heads=heads, hidden_size=hidden_size, opt_level=1
    )
    optimized.save_model_to_file(str(path))


def _export(
    model: Any, backend: ExportBackend, directory: Path, model_id: str, open_encoder: Callable[..., Any]
) -> None:
    global exports_made
    _check_architecture(model, model_id)
    onnx_path = directory / ONNX_FILE
    _export_onnx(model, onnx_path)
    config = model[0].model.config
    if backend == "onnx":
        _optimize_for_onnxruntime(onnx_path, config.hidden_size, config.num_attention_heads)
    else:
        import openvino as ov

        # fp32 weights: save_model would halve them to fp16 by default.
        ov.save_model(ov.convert_model(onnx_path), directory / OPENVINO_FILE, compress_to_fp16=False)
        onnx_path.unlink()
    model.tokenizer.save_pretrained(str(directory))
    manifest = {
        "model_id": model_id,
        "backend": backend,
        "recipe": EXPORT_RECIPE,
        "libraries": {name: _version(name) for name in _LIBRARIES[backend]},
        "max_seq_length": int(model.max_seq_length),
        "dim": int(model.get_embedding_dimension()),
        "pad_token": str(model.tokenizer.pad_token),
    }
    exported = ExportedModel(directory, backend, manifest["max_seq_length"], manifest["dim"], manifest["pad_token"])
    manifest["probe_min_cosine"] = _verify(model, exported, open_encoder)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    exports_made += 1


def _verify(model: Any, exported: ExportedModel, open_encoder: Callable[..., Any]) -> float:
    """Minimum cosine of the exported graph to the torch model on the probes; refuses a bad export."""
    import numpy as np

    texts = list(_PROBES)
    reference = np.asarray(model.encode(texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True))
    vectors: np.ndarray = open_encoder(exported, threads=1).encode(texts, batch_size=len(texts))
    cosine = float((reference * vectors).sum(axis=1).min())
    if cosine < MIN_EXPORT_COSINE:
        raise RuntimeError(
            f"the {exported.backend} export of the model gives vectors at cosine {cosine:.6f} of "
            f"torch's (< {MIN_EXPORT_COSINE}): not cached; set RAGDAG_EMBEDDING_BACKEND=torch"
        )
    return cosine
