"""Embedding backends side by side (not a test). Run: ``.venv/bin/python bench/embed_backends.py [--quick]``.

On the same texts, in one run: real chunks of the shared article pages, made by the stage's own
cleaning and chunking (``prepare_document``), encoded the way the stage encodes them (token-length
batches of ``RAGDAG_EMBEDDING_BATCH_SIZE``), each backend prints
  - its throughput and ``ratio=`` its throughput / torch's;
  - ``min_cosine=`` its lowest cosine to torch's vector of the same text, over every text;
  - ``hit_rate=`` the stage's own retrieval check (``retrieval.evaluate_with``) on a Qdrant
    in-memory store of its vectors: each page's title must find one of the page's chunks in the top 5;
  - ``recall@10=`` with each page's title as a query, the share of the OpenVINO fp32 vectors' own
    top 10 chunks that this backend's vectors also rank in their top 10 (the int8 bar: >= 0.99).
The default backend is the fastest one whose ``min_cosine`` stays >= 0.999. The ``openvino int8``
row (``RAGDAG_EMBEDDING_PRECISION=int8``, NNCF-quantized at export time) runs in every mode; it
would be the default on CPUs without bf16 units if it reached 2x torch with recall@10 >= 0.99.

Timing is interleaved: each group of chunks is encoded by every backend in turn (order rotated),
so other work on a shared machine slows all of them alike, and the ratios stay meaningful when
the absolute speeds do not. ``--rounds`` repeats the whole pass. The full run adds two reference
rows: the removed torch dynamic-int8 path (what ``bench/embed_int8.py`` measured), and OpenVINO
in bf16 (``RAGDAG_EMBEDDING_PRECISION=bf16``, opt-in: its vectors depend on whether the CPU has
bf16 units, so the fp32 default keeps them the same on every machine).

Exports are cached under ``<data_dir>/models`` (``RAGDAG_DATA_DIR``); a cold cache adds one export
per backend (tens of seconds) before timing starts. ``--quick`` (warm cache) takes under a minute.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PAGES_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "article-pages"
BACKENDS = ("torch", "openvino", "onnx")
MIN_COSINE = 0.999  # the bar of a default backend
INT8_MIN_RECALL = 0.99  # recall@10 against the fp32 vectors' own top 10
INT8_MIN_RATIO = 2.0  # x torch
INT8 = "openvino int8"
GROUP = 128  # chunks per timing slice


@dataclass
class Row:
    name: str
    embedder: Any
    seconds: float = 0.0
    load_seconds: float = 0.0
    vectors: np.ndarray | None = None


def page_documents(limit: int | None) -> list[dict[str, Any]]:
    """The shared pages as stored article records (the fields the stage reads)."""
    from ragdag.crawling.extraction import extract_article

    documents = []
    for page in sorted(p for p in PAGES_DIR.iterdir() if (p / "source.html").is_file()):
        article = extract_article((page / "source.html").read_bytes())
        url = f"https://pages.bench/{page.name}"
        if article.content and article.title:
            documents.append(
                {
                    "_id": str(uuid.uuid5(uuid.NAMESPACE_URL, url)),
                    "category": "articles",
                    "title": article.title,
                    "content": article.content,
                    "url": url,
                }
            )
    if not documents:
        raise SystemExit(f"no pages under {PAGES_DIR}: the bench needs the shared corpus")
    return documents[:limit]


def _int8_torch(settings: Any) -> Any:
    """The removed RAGDAG_EMBEDDING_QUANTIZATION=int8 path: dynamic int8 Linear layers on torch."""
    import copy
    import warnings

    import torch

    from ragdag.features.embedding import Embedder, load_embedder
    from ragdag.features.embedding_backends import TorchEncoder

    base = load_embedder(settings.model_copy(update={"embedding_backend": "torch"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(base.model.model), {torch.nn.Linear}, dtype=torch.qint8
        )
    return Embedder(base.model_id, TorchEncoder(model), base.tokenizer, base.dim, "torch")


def hit_rate(embedder: Any, items: list[Any], vectors: np.ndarray) -> tuple[float | None, int]:
    from qdrant_client import QdrantClient

    from ragdag.features.retrieval import evaluate_with
    from ragdag.features.vector_store import ensure_collections, write_features

    start = 0
    for item in items:
        item.vectors = vectors[start : start + len(item.chunks)]
        start += len(item.chunks)
    client = QdrantClient(":memory:")
    try:
        ensure_collections(client, embedder.dim)
        write_features(client, items, model_id=embedder.model_id, feature_version="bench")
        evaluation = evaluate_with(client, embedder, sample_size=len(items), k=5)
    finally:
        client.close()
    return evaluation.hit_rate, evaluation.sample_size


def recall_at_10(reference: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean share of the reference's top 10 chunks per query that the candidate ranks top 10 too."""
    (ref_chunks, ref_queries), (chunks, queries) = reference, candidate
    k = min(10, len(ref_chunks))
    expected = np.argsort(-(ref_queries @ ref_chunks.T), axis=1)[:, :k]
    found = np.argsort(-(queries @ chunks.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(expected, found, strict=True)]))


def cpu_description() -> tuple[str, bool]:
    """The CPU's name and whether OpenVINO finds bf16 units on it."""
    import openvino

    core = openvino.Core()
    return str(core.get_property("CPU", "FULL_DEVICE_NAME")), "BF16" in core.get_property(
        "CPU", "OPTIMIZATION_CAPABILITIES"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="10 pages, 1 round, no reference rows (under a minute on an idle machine)"
    )
    parser.add_argument("--pages", type=int, default=None, help="pages used (default: all; --quick: 10)")
    parser.add_argument("--rounds", type=int, default=None, help="timed passes over the texts (default 2; --quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="RAGDAG_EMBEDDING_THREADS for every backend")
    args = parser.parse_args()
    pages = args.pages or (10 if args.quick else None)
    rounds = args.rounds or (1 if args.quick else 2)

    from ragdag.features.embedding import load_embedder
    from ragdag.features.embedding_backends import resolve_threads
    from ragdag.features.pipeline import prepare_document
    from ragdag.settings import Settings

    settings = Settings(**({"embedding_threads": args.threads} if args.threads is not None else {}))
    rows: list[Row] = []
    for name in BACKENDS:
        started = time.perf_counter()
        embedder = load_embedder(settings.model_copy(update={"embedding_backend": name}))
        rows.append(Row(name, embedder, load_seconds=time.perf_counter() - started))
    started = time.perf_counter()
    int8 = settings.model_copy(update={"embedding_backend": "openvino", "embedding_precision": "int8"})
    rows.append(Row(INT8, load_embedder(int8), load_seconds=time.perf_counter() - started))
    if not args.quick:
        started = time.perf_counter()
        rows.append(Row("torch-int8 (removed)", _int8_torch(settings), load_seconds=time.perf_counter() - started))
        started = time.perf_counter()
        bf16 = settings.model_copy(update={"embedding_backend": "openvino", "embedding_precision": "bf16"})
        rows.append(Row("openvino bf16 (opt-in)", load_embedder(bf16), load_seconds=time.perf_counter() - started))

    tokenizer = rows[0].embedder.tokenizer
    items = [prepare_document(document, tokenizer) for document in page_documents(pages)]
    texts = [chunk.text for item in items for chunk in item.chunks]
    counts = tokenizer.count_with_special(texts)
    batch = settings.embedding_batch_size
    print(
        f"{len(texts)} chunks of {len(items)} shared pages (mean {np.mean(counts):.0f} tokens, max {max(counts)}), "
        f"batch {batch}, {resolve_threads(settings.embedding_threads)} threads, {rounds} round(s), "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    cpu, has_bf16 = cpu_description()
    print(f"CPU: {cpu}, {os.cpu_count()} logical CPUs, bf16 units: {'yes' if has_bf16 else 'no'}", flush=True)
    print("load (s, incl. any export): " + ", ".join(f"{r.name} {r.load_seconds:.1f}" for r in rows), flush=True)

    for row in rows:  # warm-up: first calls allocate and compile
        row.embedder.embed(texts[:batch], batch, counts[:batch])
    for round_number in range(rounds):
        for slice_number, start in enumerate(range(0, len(texts), GROUP)):
            group, group_counts = texts[start : start + GROUP], counts[start : start + GROUP]
            shift = (round_number + slice_number) % len(rows)
            for row in rows[shift:] + rows[:shift]:
                began = time.perf_counter()
                vectors = row.embedder.embed(group, batch, group_counts)
                row.seconds += time.perf_counter() - began
                if round_number == 0:
                    row.vectors = vectors if row.vectors is None else np.concatenate([row.vectors, vectors])

    torch_row = rows[0]
    assert torch_row.vectors is not None
    titles = [str(item.document["title"]) for item in items]
    fp32 = next(row for row in rows if row.name == "openvino")
    assert fp32.vectors is not None
    reference = (fp32.vectors, fp32.embedder.embed(titles, batch))
    print(f"{'backend':22s} {'chunks/s':>9s}  ratio  min_cosine  hit_rate@5  recall@10 vs openvino fp32", flush=True)
    eligible = []
    int8_figures = (0.0, 0.0)
    for row in rows:
        assert row.vectors is not None
        rate = len(texts) * rounds / row.seconds
        ratio = torch_row.seconds / row.seconds
        cosine = float((row.vectors * torch_row.vectors).sum(axis=1).min())
        hits, sampled = hit_rate(row.embedder, items, row.vectors)
        hits_text = "n/a" if hits is None else f"{hits:.3f}"
        recall = recall_at_10(reference, (row.vectors, row.embedder.embed(titles, batch)))
        print(
            f"{row.name:22s} {rate:9.1f}  ratio={ratio:.2f}  min_cosine={cosine:.6f}  "
            f"hit_rate={hits_text} ({sampled} queries)  recall@10={recall:.3f} ({len(titles)} queries)",
            flush=True,
        )
        if row.name in BACKENDS and cosine >= MIN_COSINE:
            eligible.append((ratio, row.name))
        if row.name == INT8:
            int8_figures = (ratio, recall)
    fastest = max(eligible)[1]
    print(
        f"fastest fp32 backend within cosine {MIN_COSINE} of torch on every text: {fastest} "
        f"(configured default: {Settings.model_fields['embedding_backend'].default}); "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )
    ratio, recall = int8_figures
    holds = ratio >= INT8_MIN_RATIO and recall >= INT8_MIN_RECALL
    print(
        f"int8: {ratio:.2f}x torch (target {INT8_MIN_RATIO}x), recall@10 {recall:.3f} (bar {INT8_MIN_RECALL}): "
        + ("meets both" if holds else "below the target: stays opt-in (RAGDAG_EMBEDDING_PRECISION=int8)")
        + ("; this CPU has bf16 units, where fp32 stays the default anyway" if has_bf16 else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
