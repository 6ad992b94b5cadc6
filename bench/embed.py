"""Benchmark of the feature stage (not a test). Run: ``.venv/bin/python bench/embed.py [--quick]``.

Prints, on a generated corpus (sentences of the shared real-world pages, code of this repository):
  (a) raw torch ``SentenceTransformer.encode`` throughput on the stage's own chunk texts and batch size;
  (b) the stage end to end (plan, MongoDB read, clean, chunk, embed, staging in the object store,
      Qdrant upsert; its partitions one after the other, as ``embed_validated_documents`` runs them)
      on the configured embedding backend (``RAGDAG_EMBEDDING_BACKEND``, default openvino) and the
      ratio b/a;
  (c) a re-run on unchanged data, as a share of (b)'s time;
  (d) peak memory (RSS) of the stage at two corpus sizes: a ratio near 1 shows it streams.

``--quick``: 1,250 and 5,000 chunks instead of 5,000 and 20,000 (the same 4x), a few minutes.

It starts its own embedded MongoDB and uses a temporary data dir (Qdrant local mode); each stage
run happens in a fresh child process so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = REPO_ROOT.parent / "shared" / "corpus" / "article-pages"
ENGLISH_PAGES = (
    "ars-1",
    "bbc-1",
    "cnet",
    "dropbox-blog",
    "firefox-nightly-blog",
    "gitlab-blog",
    "google-sre-book-1",
    "keep-images",
    "lifehacker-post-comment-load",
    "medium-1",
    "medium-3",
    "nytimes-1",
    "nytimes-3",
    "salon-1",
    "seattletimes-1",
    "theverge",
    "toc-missing",
    "videos-1",
    "wapo-2",
    "wikipedia-2",
    "wikipedia-4",
    "wordpress",
)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} missing from /proc/self/status (Linux only)")


def _reset_peak_rss() -> None:
    # Linux >= 4.0: writing 5 resets VmHWM, so the peak measured is the stage's, not model loading's.
    Path("/proc/self/clear_refs").write_text("5")


# --- corpus ------------------------------------------------------------------------------------


def _sentences() -> list[str]:
    from ragdag.crawling.extraction import extract_article

    pool: list[str] = []
    for name in ENGLISH_PAGES:
        page = PAGES_DIR / name / "source.html"
        if page.is_file():
            text = extract_article(page.read_bytes()).content
            pool.extend(s for s in re.split(r"(?<=[.!?])\s+|\n+", text) if 6 <= len(s.split()) <= 60)
    if len(pool) < 200:
        raise SystemExit(f"too few sentences under {PAGES_DIR}: the bench needs the shared corpus")
    return pool


def _code_files() -> list[tuple[str, str]]:
    return [
        (str(p.relative_to(REPO_ROOT)), p.read_text())
        for p in sorted((REPO_ROOT / "include" / "ragdag").rglob("*.py"))
        if p.stat().st_size > 500
    ]


def _documents(rng: random.Random, sentences: list[str], code: list[tuple[str, str]], n: int) -> Any:
    """Endless stream of (category, url, title, content, files): 3 articles : 2 posts : 1 repository."""
    from ragdag.models import Category

    for i in range(n):
        kind = (
            Category.ARTICLES,
            Category.POSTS,
            Category.ARTICLES,
            Category.POSTS,
            Category.ARTICLES,
            Category.REPOSITORIES,
        )[i % 6]
        if kind is Category.REPOSITORIES:
            files = [
                {"path": path, "content": f"{body}\n# revision {i}-{j}\n"}
                for j, (path, body) in enumerate(rng.sample(code, 3))
            ]
            yield kind, f"https://git.bench/{i}", f"repository {i}", "\n\n".join(f["content"] for f in files), files
            continue
        count = rng.randint(25, 45) if kind is Category.ARTICLES else rng.randint(3, 8)
        picked = rng.sample(sentences, count)
        paragraphs = [" ".join(picked[k : k + 4]) for k in range(0, count, 4)]
        yield kind, f"https://{kind.value}.bench/{i}", " ".join(picked[0].split()[:8]), "\n\n".join(paragraphs), None


def generate_corpus(settings: Any, target_chunks: int, seed: int) -> tuple[int, int]:
    """Store validated documents until they make ``target_chunks`` chunks; return (documents, chunks)."""
    from ragdag.crawling.document_store import upsert_document
    from ragdag.documents import DOCUMENT_COLLECTIONS, STATUS_FIELD, DocumentStatus
    from ragdag.features.embedding import resolve_model_location
    from ragdag.features.pipeline import prepare_document
    from ragdag.features.tokenizer import ModelTokenizer
    from ragdag.stores.mongo import mongo_database

    tokenizer = ModelTokenizer.from_model_dir(Path(resolve_model_location(settings.embedding_model_id)))
    rng = random.Random(seed)
    documents = chunks = 0
    with mongo_database(settings) as db:
        for kind, url, title, content, files in _documents(rng, _sentences(), _code_files(), 10**9):
            fields: dict[str, Any] = {"title": title, **({"files": files} if files else {})}
            upsert_document(
                db,
                category=kind,
                url=url,
                author_full_name=f"Author {documents % 7}",
                platform="bench",
                content=content,
                fields=fields,
                http=None,
            )
            record = {"_id": url, "category": kind.value, "content": content, "files": files}
            chunks += len(prepare_document(record, tokenizer).chunks)
            documents += 1
            if chunks >= target_chunks:
                break
        for name in DOCUMENT_COLLECTIONS:
            db[name].update_many({}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    return documents, chunks


# --- measurements ------------------------------------------------------------------------------


def stage_chunk_texts(settings: Any) -> list[str]:
    """The chunk texts the stage makes of the stored corpus (for the raw-encode baseline)."""
    from ragdag.features.embedding import load_embedder
    from ragdag.features.pipeline import prepare_document
    from ragdag.features.source import fetch_documents, iter_document_refs
    from ragdag.stores.mongo import mongo_database

    tokenizer = load_embedder(settings).tokenizer
    texts: list[str] = []
    with mongo_database(settings) as db:
        for refs in iter_document_refs(db, 256):
            for document in fetch_documents(db, refs[0].category, [r.document_id for r in refs]):
                document["category"] = refs[0].category.value
                texts.extend(c.text for c in prepare_document(document, tokenizer).chunks)
    return texts


def padding_factors(settings: Any, texts: list[str], group: int) -> tuple[float, float]:
    """Padded / real tokens: batches in character-length order (what ``encode`` does on its own,
    over all texts) and in token-length order within the stage's groups (what the stage does)."""
    from ragdag.features.embedding import load_embedder

    counts = load_embedder(settings).tokenizer.count_with_special(texts)
    size = settings.embedding_batch_size

    def padded(order: list[int]) -> int:
        return sum(
            max(counts[i] for i in order[s : s + size]) * len(order[s : s + size]) for s in range(0, len(order), size)
        )

    by_chars = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    by_tokens = [
        i
        for g in range(0, len(texts), group)
        for i in sorted(range(g, min(g + group, len(texts))), key=lambda i: -counts[i])
    ]
    real = sum(counts)
    return padded(by_chars) / real, padded(by_tokens) / real


def raw_encode(settings: Any, texts: list[str]) -> dict[str, float]:
    """(a): the torch model alone on the stage's chunk texts, with the stage's batch size."""
    from ragdag.features.embedding import load_embedder

    model = load_embedder(settings.model_copy(update={"embedding_backend": "torch"})).model.model
    model.encode(texts[:128], batch_size=settings.embedding_batch_size, show_progress_bar=False)
    wall, cpu = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=settings.embedding_batch_size, show_progress_bar=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"chunks": len(texts), "seconds": wall, "cpu_seconds": cpu, "chunks_per_s": len(texts) / wall}


def child_run(rerun: bool) -> None:
    """In a fresh process: the whole stage (model loaded first, then timed), optionally a re-run."""
    from ragdag.features import embed_validated_documents
    from ragdag.features.embedding import load_embedder
    from ragdag.settings import get_settings

    settings = get_settings()
    started = time.perf_counter()
    # One-time process costs, like loading the model, are paid before the clock starts.
    embedder = load_embedder(settings)
    embedder.model.encode(["warm up"] * 128, batch_size=settings.embedding_batch_size)
    import airflow.sdk  # noqa: F401  (connection lookup)
    import qdrant_client  # noqa: F401

    result: dict[str, Any] = {
        "backend": settings.embedding_backend,
        "model_load_s": time.perf_counter() - started,
        "peak_rss_model_load_mb": _status_mb("VmHWM"),
    }
    _reset_peak_rss()
    result["rss_before_mb"] = _status_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    report = embed_validated_documents(settings, "bench-first", embedder=embedder)
    result.update(
        seconds=time.perf_counter() - wall,
        cpu_seconds=time.process_time() - cpu,
        report=report.model_dump(),
        peak_rss_mb=_status_mb("VmHWM"),
    )
    if rerun:
        started = time.perf_counter()
        again = embed_validated_documents(settings, "bench-rerun", embedder=embedder)
        result.update(rerun_seconds=time.perf_counter() - started, rerun_report=again.model_dump())
    print("RESULT " + json.dumps(result))


_LOCAL_QDRANT_PROBE = """
import sys
from pathlib import Path
def rss():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
import numpy, qdrant_client
before = rss()
client = qdrant_client.QdrantClient(path=sys.argv[1])
client.count("embedded_chunks")
print(rss() - before)
client.close()
"""


def local_qdrant_mb(qdrant_path: Path) -> float:
    """RAM that Qdrant local mode takes to hold the stored collections (measured in a fresh process)."""
    output = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _LOCAL_QDRANT_PROBE, str(qdrant_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def _in_child(env: dict[str, str], rerun: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child"] + (["--rerun"] if rerun else [])
    output = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])


def _configure(env: dict[str, str]) -> Any:
    os.environ.update(env)
    from ragdag.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=None, help="corpus size for (a)-(c) and the first (d) point")
    parser.add_argument("--large-chunks", type=int, default=None, help="second corpus size for (d); 0 skips it")
    parser.add_argument("--quick", action="store_true", help="1250 and 5000 chunks (default 5000 and 20000)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rerun", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_run(args.rerun)
        return
    small_default, large_default = (1250, 5000) if args.quick else (5000, 20000)
    args.chunks = small_default if args.chunks is None else args.chunks
    args.large_chunks = large_default if args.large_chunks is None else args.large_chunks

    from ragdag.stores import embedded_mongo

    work = Path(tempfile.mkdtemp(prefix="ragdag-bench-"))
    server = embedded_mongo.start(work / "mongodb", embedded_mongo.free_port())
    base_env = {**os.environ, "AIRFLOW_CONN_MONGO_DEFAULT": f"mongo://127.0.0.1:{server.port}/", "HF_HUB_OFFLINE": "1"}
    base_env.pop("AIRFLOW_CONN_QDRANT_DEFAULT", None)  # Qdrant local mode in the temp dir
    sizes = [("small", args.chunks)] + ([("large", args.large_chunks)] if args.large_chunks else [])
    envs = {
        name: {**base_env, "RAGDAG_DATA_DIR": str(work / name), "RAGDAG_MONGO_DATABASE": f"bench_{name}"}
        for name, _ in sizes
    }
    for env in envs.values():
        _share_export_cache(Path(env["RAGDAG_DATA_DIR"]))
    try:
        corpora = {}
        for name, target in sizes:
            started = time.perf_counter()
            corpora[name] = generate_corpus(_configure(envs[name]), target, seed=len(name))
            print(
                f"corpus {name}: {corpora[name][0]} documents, {corpora[name][1]} chunks "
                f"(generated in {time.perf_counter() - started:.0f}s)",
                flush=True,
            )

        settings = _configure(envs["small"])
        texts = stage_chunk_texts(settings)
        print(
            f"backend {settings.embedding_backend}, threads {_threads(settings)}, batch size "
            f"{settings.embedding_batch_size}, model {settings.embedding_model_id}, "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        # (a) is measured before and after (b) and averaged: other work on the machine shifts both.
        before = raw_encode(settings, texts)
        small = _in_child(envs["small"], rerun=True)
        after = raw_encode(settings, texts)
        raw_s = (before["seconds"] + after["seconds"]) / 2
        raw_cpu = (before["cpu_seconds"] + after["cpu_seconds"]) / 2
        raw_rate = len(texts) / raw_s
        print(
            f"(a) raw torch encode: {len(texts)} chunks in {before['seconds']:.1f}s / {after['seconds']:.1f}s "
            f"(before / after b) = {raw_rate:.1f} chunks/s; CPU {raw_cpu:.1f}s",
            flush=True,
        )
        by_chars, by_tokens = padding_factors(settings, texts, settings.embedding_flush_chunks)
        print(
            f"    padded/real tokens: {by_chars:.3f} in encode's character-length order, "
            f"{by_tokens:.3f} in the stage's token-length batches",
            flush=True,
        )
        report = small["report"]
        stage_rate = report["chunks_written"] / small["seconds"]
        print(
            f"(b) feature stage on the {small['backend']} backend: {report['chunks_written']} chunks of "
            f"{report['documents_embedded']} documents in {small['seconds']:.1f}s = {stage_rate:.1f} chunks/s; "
            f"b/a = {stage_rate / raw_rate:.3f} (target >= 0.9; above 1 is the backend's gain); by CPU time "
            f"{raw_cpu / small['cpu_seconds']:.3f} (a's CPU s / b's CPU s, steadier when the machine "
            f"is shared); model load {small['model_load_s']:.1f}s not counted",
            flush=True,
        )
        print(
            f"    retrieval hit rate {report['retrieval_hit_rate']:.2f} (synthetic corpus: every sentence "
            "recurs in several documents, so title queries are ambiguous; the tests measure real pages)",
            flush=True,
        )
        rerun = small["rerun_report"]
        print(
            f"(c) re-run on unchanged data: {small['rerun_seconds']:.2f}s = "
            f"{100 * small['rerun_seconds'] / small['seconds']:.2f}% of (b) (target <= 5%); "
            f"skipped {rerun['documents_skipped']}, embedded {rerun['documents_embedded']}, "
            f"written {rerun['chunks_written']}",
            flush=True,
        )
        small["qdrant_mb"] = local_qdrant_mb(Path(envs["small"]["RAGDAG_DATA_DIR"]) / "qdrant")
        print(
            f"(d) peak RSS of the stage at {report['chunks_written']} chunks: {small['peak_rss_mb']:.0f} MB "
            f"(RSS at its start {small['rss_before_mb']:.0f} MB; of the peak, Qdrant local mode's "
            f"in-memory collections: {small['qdrant_mb']:.0f} MB)",
            flush=True,
        )
        if "large" in envs:
            large = _in_child(envs["large"], rerun=False)
            large["qdrant_mb"] = local_qdrant_mb(Path(envs["large"]["RAGDAG_DATA_DIR"]) / "qdrant")
            big = large["report"]
            print(
                f"(d) peak RSS of the stage at {big['chunks_written']} chunks: {large['peak_rss_mb']:.0f} MB "
                f"(RSS at its start {large['rss_before_mb']:.0f} MB; Qdrant local mode's collections: "
                f"{large['qdrant_mb']:.0f} MB); stage {big['chunks_written'] / large['seconds']:.1f} chunks/s",
                flush=True,
            )
            ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
            own = (large["peak_rss_mb"] - large["qdrant_mb"]) / (small["peak_rss_mb"] - small["qdrant_mb"])
            print(
                f"(d) peak ratio = {ratio:.3f} (target <= 1.3) for "
                f"{big['chunks_written'] / report['chunks_written']:.1f}x the chunks; without Qdrant local "
                f"mode's in-memory copy of the store (a server holds it out of process): {own:.3f}",
                flush=True,
            )
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        embedded_mongo.stop(work / "mongodb")
        print(f"work dir (delete when done): {work}")


def _threads(settings: Any) -> int:
    from ragdag.features.embedding_backends import resolve_threads

    return resolve_threads(settings.embedding_threads)


def _share_export_cache(data_dir: Path) -> None:
    """The temp data dirs use the project's export cache: a bench run exports nothing twice."""
    from ragdag.features.embedding import export_cache_dir
    from ragdag.settings import Settings

    shared = export_cache_dir(Settings(data_dir=Settings.model_fields["data_dir"].default))
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / shared.name).symlink_to(shared, target_is_directory=True)


if __name__ == "__main__":
    main()
