"""Embedding backends against torch on real page chunks; the export cache; the feature version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ragdag.features.embedding import PACKAGED_MODEL_ID, embedding_variant, load_embedder, resolve_model_location
from ragdag.settings import Settings

pytestmark = pytest.mark.slow  # loads torch and exports the model (once per session)

EXPORTED = ("openvino", "onnx")
PAGES = ("ars-1", "bbc-1", "cnet", "gitlab-blog", "nytimes-1", "theverge", "webmd-2", "wikipedia-2")
# fp32 graphs agree with torch to ~1e-7; the bar for a default backend is 0.999.
MIN_COSINE = 0.9999


@pytest.fixture(scope="session")
def cache_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data dir of its own: the exports below are made here, once per session."""
    return Settings(data_dir=tmp_path_factory.mktemp("embedding-data"))


@pytest.fixture(scope="session")
def backends(cache_settings: Settings) -> dict:
    return {
        name: load_embedder(cache_settings.model_copy(update={"embedding_backend": name}))
        for name in ("torch", *EXPORTED)
    }


@pytest.fixture(scope="session")
def page_chunks(article_pages_dir: Path, backends: dict) -> list[str]:
    """Chunks of real pages, made by the stage's own cleaning and chunking."""
    from ragdag.crawling.extraction import extract_article
    from ragdag.features.pipeline import prepare_document

    tokenizer = backends["torch"].tokenizer
    texts: list[str] = []
    for name in PAGES:
        article = extract_article((article_pages_dir / name / "source.html").read_bytes())
        record = {"_id": name, "category": "articles", "content": article.content}
        texts.extend(chunk.text for chunk in prepare_document(record, tokenizer).chunks)
    return texts


@pytest.mark.parametrize("backend", EXPORTED)
def test_backend_vectors_match_torch_on_page_chunks(backend: str, backends: dict, page_chunks: list[str]) -> None:
    torch_embedder, embedder = backends["torch"], backends[backend]
    assert len(page_chunks) >= 40
    counts = embedder.tokenizer.count_with_special(page_chunks)
    assert max(counts) == embedder.tokenizer.max_seq_length  # full-length chunks are in the mix
    reference = torch_embedder.embed(page_chunks, batch_size=16, token_counts=counts)
    vectors = embedder.embed(page_chunks, batch_size=16, token_counts=counts)
    assert vectors.shape == reference.shape == (len(page_chunks), 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors * reference).sum(axis=1).min()) >= MIN_COSINE
    # A query ranks the chunks as torch does.
    query = embedder.embed(["What did the article say about the company?"], batch_size=1)[0]
    torch_query = torch_embedder.embed(["What did the article say about the company?"], batch_size=1)[0]
    assert np.argsort(-(vectors @ query))[:5].tolist() == np.argsort(-(reference @ torch_query))[:5].tolist()


@pytest.mark.parametrize("backend", EXPORTED)
def test_a_vector_does_not_depend_on_its_batch(backend: str, backends: dict, page_chunks: list[str]) -> None:
    embedder = backends[backend]
    texts = page_chunks[:6] + ["short text"]
    alone = np.stack([embedder.embed([t], batch_size=1)[0] for t in texts])
    batched = embedder.embed(texts, batch_size=len(texts))
    assert np.allclose(alone, batched, atol=1e-5)


def test_exported_inputs_are_sentence_transformers_inputs(backends: dict, page_chunks: list[str]) -> None:
    """Same token ids, mask and types as sentence-transformers: truncation, padding, odd text."""
    st_model = backends["torch"].model.model
    texts = page_chunks[:5] + ["", "  padded  with spaces \t", "Ünïcödé — naïve café 🎉", "word " * 400]
    for backend in EXPORTED:
        features = backends[backend].model.features(texts)
        expected = st_model.preprocess(texts)
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            assert features[name].tolist() == expected[name].tolist(), (backend, name)


def test_export_cache_is_reused_on_the_second_start(backends: dict, cache_settings: Settings) -> None:
    """A fresh process finds both exports: nothing is exported again, torch is not even imported."""
    from ragdag.features.model_export import export_dir

    location = resolve_model_location(PACKAGED_MODEL_ID)
    cache_root = cache_settings.data_dir / "models"
    dirs = {b: export_dir(cache_root, PACKAGED_MODEL_ID, location, b) for b in EXPORTED}
    assert dirs["openvino"] != dirs["onnx"]  # the key changes with the backend
    files = {b: sorted(p for p in d.iterdir()) for b, d in dirs.items()}
    mtimes = {p: p.stat().st_mtime_ns for paths in files.values() for p in paths}
    assert {p.name for p in files["openvino"]} >= {"model.xml", "model.bin", "tokenizer.json", "export.json"}
    assert {p.name for p in files["onnx"]} >= {"model.onnx", "tokenizer.json", "export.json"}
    assert not [p for p in dirs["onnx"].parent.iterdir() if p.name.startswith(".")]  # no staging left
    manifest = json.loads((dirs["openvino"] / "export.json").read_text())
    assert manifest["probe_min_cosine"] >= MIN_COSINE and manifest["dim"] == 384

    probe = (
        "import sys, json\n"
        "from ragdag.features import model_export\n"
        "from ragdag.features.embedding import load_embedder\n"
        "from ragdag.settings import Settings\n"
        "out = {}\n"
        "for backend in ('openvino', 'onnx'):\n"
        "    e = load_embedder(Settings(embedding_backend=backend))\n"
        "    out[backend] = e.embed(['the export cache'], batch_size=1)[0].tolist()\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'nncf') if m in sys.modules]\n"
        "print(json.dumps({'exports': model_export.exports_made, 'heavy': heavy, **out}))\n"
    )
    env = {**os.environ, "RAGDAG_DATA_DIR": str(cache_settings.data_dir)}
    output = subprocess.run(
        [sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["exports"] == 0
    assert result["heavy"] == []  # the cached graphs load with their runtime and tokenizers only
    for backend in EXPORTED:
        expected = backends[backend].embed(["the export cache"], batch_size=1)[0]
        assert np.allclose(result[backend], expected, atol=1e-5)
    assert {p: p.stat().st_mtime_ns for paths in files.values() for p in paths} == mtimes


def test_a_cached_export_is_used_without_loading_the_model(backends: dict, cache_settings: Settings) -> None:
    from ragdag.features import model_export
    from ragdag.features.embedding_backends import open_exported

    def must_not_load() -> None:
        raise AssertionError("the model was loaded: the cache was not used")

    before = model_export.exports_made
    exported = model_export.exported_model(
        PACKAGED_MODEL_ID,
        resolve_model_location(PACKAGED_MODEL_ID),
        "openvino",
        cache_settings.data_dir / "models",
        must_not_load,
        open_encoder=open_exported,
    )
    assert exported.graph.is_file() and exported.max_seq_length == 256
    assert model_export.exports_made == before


def test_cache_key_follows_model_files_backend_and_library_versions(tmp_path: Path, monkeypatch) -> None:
    from ragdag.features import model_export

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    keys = {b: model_export.cache_key("m", str(folder), b) for b in EXPORTED}
    assert keys["onnx"] != keys["openvino"]
    (folder / "model.safetensors").write_bytes(b"weights")
    assert model_export.cache_key("m", str(folder), "onnx") != keys["onnx"]
    changed = model_export.cache_key("m", str(folder), "onnx")
    real_version = model_export._version
    monkeypatch.setattr(model_export, "_version", lambda name: "9.9" if name == "onnxruntime" else real_version(name))
    assert model_export.cache_key("m", str(folder), "onnx") != changed
    assert model_export.cache_key("m", str(folder), "openvino") == model_export.cache_key("m", str(folder), "openvino")


def test_openvino_bf16_stays_within_the_default_bar(backends: dict, cache_settings: Settings, page_chunks) -> None:
    """Opt-in bf16 (f32 on CPUs without bf16 units): within cosine 0.999 of torch, the same export."""
    from ragdag.features import model_export

    before = model_export.exports_made
    bf16 = load_embedder(
        cache_settings.model_copy(update={"embedding_backend": "openvino", "embedding_precision": "bf16"})
    )
    assert model_export.exports_made == before
    reference = backends["torch"].embed(page_chunks, batch_size=16)
    assert float((bf16.embed(page_chunks, batch_size=16) * reference).sum(axis=1).min()) >= 0.999


def test_openvino_int8_is_quantized_once_on_real_chunks(backends: dict, cache_settings: Settings, page_chunks) -> None:
    """NNCF int8 at export time, calibrated on the sample site's chunks: an export of its own (the
    fp32 one is reused, not made again), reported against fp32; a fresh process loads it from the
    cache without torch or NNCF."""
    from ragdag.features import model_export

    before = model_export.exports_made
    int8_settings = cache_settings.model_copy(update={"embedding_backend": "openvino", "embedding_precision": "int8"})
    int8 = load_embedder(int8_settings)
    assert model_export.exports_made == before + 1  # the int8 graph only
    manifest = json.loads((int8.model._exported.directory / "export.json").read_text())
    assert manifest["precision"] == "int8" and manifest["calibration_chunks"] >= 20
    assert manifest["calibration_min_cosine_to_fp32"] >= model_export.MIN_INT8_COSINE

    fp32 = backends["openvino"].embed(page_chunks, batch_size=16)
    vectors = int8.embed(page_chunks, batch_size=16)
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosines = (vectors * fp32).sum(axis=1)
    assert float(cosines.min()) >= model_export.MIN_INT8_COSINE
    assert not np.allclose(vectors, fp32, atol=1e-4)  # it is another graph, not the fp32 one

    probe = (
        "import sys, json\n"
        "from ragdag.features import model_export\n"
        "from ragdag.features.embedding import load_embedder\n"
        "from ragdag.settings import Settings\n"
        "e = load_embedder(Settings(embedding_backend='openvino', embedding_precision='int8'))\n"
        "vector = e.embed(['the int8 cache'], batch_size=1)[0].tolist()\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'nncf') if m in sys.modules]\n"
        "print(json.dumps({'exports': model_export.exports_made, 'heavy': heavy, 'vector': vector}))\n"
    )
    env = {**os.environ, "RAGDAG_DATA_DIR": str(cache_settings.data_dir)}
    output = subprocess.run(
        [sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert (result["exports"], result["heavy"]) == (0, [])
    assert np.allclose(result["vector"], int8.embed(["the int8 cache"], batch_size=1)[0], atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_bf16_and_int8_are_refused_outside_openvino(backend: str, precision: str, cache_settings: Settings) -> None:
    settings = cache_settings.model_copy(update={"embedding_backend": backend, "embedding_precision": precision})
    with pytest.raises(ValueError, match="RAGDAG_EMBEDDING_BACKEND=openvino"):
        load_embedder(settings)


def test_the_backend_is_part_of_the_feature_version() -> None:
    from ragdag.features.pipeline import feature_version

    versions = {
        backend: feature_version(PACKAGED_MODEL_ID, embedding_variant(Settings(embedding_backend=backend)))
        for backend in ("torch", "openvino", "onnx")
    }
    for precision in ("bf16", "int8"):
        versions[f"openvino-{precision}"] = feature_version(
            PACKAGED_MODEL_ID, embedding_variant(Settings(embedding_backend="openvino", embedding_precision=precision))
        )
    assert len(set(versions.values())) == 5  # a switch of backend or precision re-embeds
    # torch keeps the version of stores embedded before backends existed: no needless rebuild.
    assert versions["torch"] == feature_version(PACKAGED_MODEL_ID)


def test_threads_setting_or_the_cpus_of_the_process() -> None:
    from ragdag.features.embedding_backends import resolve_threads

    assert resolve_threads(3) == 3
    assert resolve_threads(0) == len(os.sched_getaffinity(0))


def _fake_export(directory: Path, marker: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_text(marker)
    (directory / "tokenizer.json").write_text("{}")
    manifest = {"max_seq_length": 256, "dim": 384, "pad_token": "[PAD]"}
    (directory / "export.json").write_text(json.dumps(manifest))
    return directory


def test_a_concurrent_export_keeps_the_first_one_in_place(tmp_path: Path) -> None:
    """Two workers exporting at once: the second finds the first's folder and keeps it."""
    from ragdag.features.model_export import _move_into_place, _read

    target = _fake_export(tmp_path / "onnx-key", "first")
    staging = _fake_export(tmp_path / ".onnx-key.staging", "second")
    _move_into_place(staging, target, "onnx")
    assert (target / "model.onnx").read_text() == "first"
    assert _read(target, "onnx") is not None


def test_an_unusable_cache_folder_is_replaced(tmp_path: Path) -> None:
    from ragdag.features.model_export import _move_into_place, _read

    target = tmp_path / "onnx-key"
    target.mkdir()
    (target / "model.onnx").write_text("half written by hand, no manifest")
    staging = _fake_export(tmp_path / ".onnx-key.staging", "fresh")
    assert _read(target, "onnx") is None
    _move_into_place(staging, target, "onnx")
    assert (target / "model.onnx").read_text() == "fresh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx-key"]  # nothing set aside is left


_EXPORTING_WORKER = """
import json, sys, time
from pathlib import Path
from ragdag.features import model_export
from ragdag.features.embedding import load_embedder
from ragdag.settings import Settings
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():  # both workers load at the same moment
    time.sleep(0.01)
embedder = load_embedder(Settings(embedding_backend="openvino"))
vector = embedder.embed(["two workers, one export"], batch_size=1)[0]
print(json.dumps({"exports": model_export.exports_made, "vector": vector.tolist()}))
"""


def test_two_workers_started_together_export_once(tmp_path: Path) -> None:
    """A cold cache and two partitions loading at once: one exports under the lock, the other waits
    and loads that export; both encode alike."""
    from ragdag.features.model_export import export_dir, lock_file

    env = {**os.environ, "RAGDAG_DATA_DIR": str(tmp_path / "data")}
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{i}" for i in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _EXPORTING_WORKER, str(ready), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        deadline = time.monotonic() + 300  # hang guard: imports take seconds
        while not all(r.exists() for r in readies):
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "a worker did not start"
            time.sleep(0.05)
        go.touch()
        outputs = [w.communicate(timeout=900) for w in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sorted(r["exports"] for r in results) == [0, 1]
    assert np.allclose(results[0]["vector"], results[1]["vector"], atol=1e-6)
    directory = export_dir(
        tmp_path / "data" / "models", PACKAGED_MODEL_ID, resolve_model_location(PACKAGED_MODEL_ID), "openvino"
    )
    assert lock_file(directory).is_file()
    assert sorted(p.name for p in directory.parent.iterdir()) == sorted([directory.name, lock_file(directory).name])
