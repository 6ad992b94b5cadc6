"""Embedding backends: one ``encode`` over sentence-transformers (torch), ONNX Runtime or OpenVINO.

``torch`` runs the model as sentence-transformers does, on a CUDA device when one is present
(device ``auto``). ``onnx`` and ``openvino`` run the graph exported by
:mod:`ragdag.features.model_export` on the CPU, fed by the model's own tokenizer with the same
truncation and padding as sentence-transformers; both compute in fp32, so their vectors match
torch's to about 1e-7 (``bench/embed_backends.py`` prints the speed and agreement of each).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ragdag.features.model_export import INPUT_NAMES, OUTPUT_NAME, ExportedModel

if TYPE_CHECKING:
    import numpy as np

Backend = Literal["torch", "openvino", "onnx"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["f32", "bf16", "int8"]


class Encoder(Protocol):
    """What the feature stage needs of a backend: unit-length float32 vectors, one row per text."""

    max_seq_length: int  # input tokens, special tokens included; longer texts are truncated
    dim: int

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face (fast) tokenizer."""

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


def resolve_threads(threads: int) -> int:
    """``threads``, or with 0 the CPUs this process may run on (its affinity, e.g. a container's)."""
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_device(device: Device) -> str:
    """``auto`` is CUDA where a device is present, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchEncoder:
    def __init__(self, model: Any) -> None:
        self.model = model  # sentence_transformers.SentenceTransformer
        self.max_seq_length = int(model.max_seq_length)
        self.dim = int(model.get_embedding_dimension())

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import numpy as np

        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class _ExportedEncoder:
    """Tokenizes like sentence-transformers (truncate to ``max_seq_length``, pad to the longest of
    the batch) and runs one batch at a time through ``run``; batches in character-length order."""

    def __init__(self, exported: ExportedModel, run: Callable[[dict[str, Any]], Any]) -> None:
        from tokenizers import Tokenizer

        self.max_seq_length = exported.max_seq_length
        self.dim = exported.dim
        self._exported = exported
        self._run = run
        self._lock = threading.Lock()  # one inference request / session call at a time
        backend = Tokenizer.from_file(str(exported.tokenizer_file))
        backend.enable_truncation(max_length=exported.max_seq_length, strategy="longest_first")
        pad_id = backend.token_to_id(exported.pad_token)
        if pad_id is None:
            raise ValueError(f"{exported.tokenizer_file} has no padding token {exported.pad_token!r}")
        backend.enable_padding(pad_id=pad_id, pad_token=exported.pad_token)
        self._backend = backend
        self._hf_tokenizer: Any = None

    @property
    def tokenizer(self) -> Any:
        if self._hf_tokenizer is None:
            from transformers import AutoTokenizer

            self._hf_tokenizer = AutoTokenizer.from_pretrained(str(self._exported.directory))
        return self._hf_tokenizer

    def features(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model inputs of one batch (int64, padded to its longest text)."""
        import numpy as np

        encodings = self._backend.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        import numpy as np

        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            feeds = self.features([texts[i] for i in batch])
            with self._lock:
                vectors[batch] = self._run(feeds)
        return vectors


def _onnxruntime(exported: ExportedModel, threads: int, precision: Precision = "f32") -> _ExportedEncoder:
    # fp32 only (the loader refuses bf16 for this backend): the graph's own precision.
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(exported.graph), options, providers=["CPUExecutionProvider"])
    return _ExportedEncoder(exported, lambda feeds: session.run([OUTPUT_NAME], feeds)[0])


def _openvino(exported: ExportedModel, threads: int, precision: Precision = "f32") -> _ExportedEncoder:
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(
        core.read_model(str(exported.graph)),
        "CPU",
        {
            # f32 unless bf16 is asked for: on CPUs with bf16 units (AMX, AVX512-BF16) OpenVINO
            # would otherwise pick bf16 itself, and vectors would depend on the machine. An int8
            # graph runs its quantized MatMuls in int8 and the rest in f32.
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",  # one synchronous batch at a time
        },
    )
    request = compiled.create_infer_request()
    output = compiled.output(0)
    names = set(INPUT_NAMES)

    def run(feeds: dict[str, Any]) -> Any:
        return request.infer({k: v for k, v in feeds.items() if k in names})[output]

    return _ExportedEncoder(exported, run)


_RUNTIMES: dict[str, Callable[[ExportedModel, int, Precision], _ExportedEncoder]] = {
    "onnx": _onnxruntime,
    "openvino": _openvino,
}


def open_exported(exported: ExportedModel, threads: int, precision: Precision = "f32") -> _ExportedEncoder:
    """An encoder over a cached export, on ``threads`` CPU threads (``bf16``: OpenVINO only; an int8
    export is opened as it is, its precision is in the graph)."""
    return _RUNTIMES[exported.backend](exported, threads, precision)
