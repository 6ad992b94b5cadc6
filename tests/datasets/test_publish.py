"""The dataset stage on real stored chunks: the demo's sample pages and repository, embedded by the
real feature stage (tests/datasets/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from chunk_fixtures import seed_chunks

from ragdag.datasets import layout
from ragdag.datasets.publish import (
    build_instruct_dataset,
    latest_dataset_version,
    load_manifest,
    publish_instruct_dataset,
)
from ragdag.datasets.quality import DatasetQualityFailed
from ragdag.settings import get_settings
from ragdag.stores.object_store import open_object_store

pytestmark = pytest.mark.slow  # embeds the demo corpus once per session


def _rows(store, key: str) -> list[dict]:
    return [json.loads(line) for line in store.get_bytes(key).decode().splitlines()]


def _version_files(store, version: str) -> dict[str, bytes]:
    return {name: store.get_bytes(layout.file_key(version, name)) for name in layout.DATA_FILES}


def test_demo_version_is_varied_split_by_document_and_complete(settings, mongo_db, demo_chunks) -> None:
    result = publish_instruct_dataset(settings, run_id="run-1")
    assert result.published and result.reason == "no dataset version yet"
    manifest = result.manifest
    store = open_object_store(settings)
    train = _rows(store, layout.sft_key(manifest.version, "train"))
    test = _rows(store, layout.sft_key(manifest.version, "test"))
    samples = train + test
    assert (len(train), len(test)) == (manifest.train_samples, manifest.test_samples) and test

    instructions = [s["instruction"] for s in samples]
    assert len(set(instructions)) / len(instructions) >= 0.9
    assert len({s["instruction_kind"] for s in samples}) >= 5, "headings, questions, leads, files, ..."
    assert {s["category"] for s in samples} == {"articles", "posts", "repositories"}
    assert not {s["document_id"] for s in train} & {s["document_id"] for s in test}
    assert set(manifest.source_documents) == set(demo_chunks)
    # The answer is the author's own text: every output is made of the document's chunk text.
    assert all(s["output"] and s["extract_id"].startswith(s["document_id"]) for s in samples)
    assert all(s["source"].startswith(("http://", "https://")) for s in samples)

    for split in layout.SPLITS:
        pairs = _rows(store, layout.preference_key(manifest.version, split))
        assert pairs and all(p["chosen"] != p["rejected"] for p in pairs)
        assert {p["rejected_by"] for p in pairs} == {manifest.generation.rejected["model"]}
        sft_docs = {s["document_id"] for s in (train if split == "train" else test)}
        assert {p["document_id"] for p in pairs} <= sft_docs

    # Checksums, counts and lineage in the manifest.
    files = _version_files(store, manifest.version)
    assert manifest.files == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    assert [f.name for f in manifest.filters][0] == "pii" and manifest.filters[-1].after == len(
        samples
    ) + manifest.decontamination["dropped"]
    assert manifest.generation.generator == "offline" and manifest.quality.success
    assert manifest.validation_run_ids == ["demo-validate"]
    assert all(doc.url and doc.title is not None or doc.category == "posts" for doc in manifest.documents.values())
    assert manifest.drift is None and manifest.card_uri.endswith("/README.md")
    assert latest_dataset_version(settings) == manifest.version
    assert load_manifest(settings, manifest.version) == manifest
    assert mongo_db.runs.find_one({"stage": "dataset", "details.version": manifest.version})


def test_card_and_files_load_with_hugging_face_datasets(settings, mongo_db, demo_chunks, tmp_path) -> None:
    import datasets

    manifest = publish_instruct_dataset(settings, run_id="run-1").manifest
    root = settings.data_dir / "object-store"
    card = (root / layout.card_key(manifest.version)).read_text()
    front, body = card.split("---\n", 2)[1:]
    import yaml

    meta = yaml.safe_load(front)
    assert meta["license"] == "other" and meta["language"] == ["en"]
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"]] == ["sft", "preference"]
    assert "## Filters" in body and "## Known limits" in body and manifest.version in body

    cache = str(tmp_path / "hf-cache")
    sft = datasets.load_dataset(
        "json",
        cache_dir=cache,
        data_files={split: str(root / key) for split, key in layout.sft_data_files(manifest.version).items()},
    )
    assert (sft["train"].num_rows, sft["test"].num_rows) == (manifest.train_samples, manifest.test_samples)
    assert {"instruction", "output", "document_id", "category", "extract_id", "source"} <= set(
        sft["train"].column_names
    )
    preference = datasets.load_dataset(
        "json",
        cache_dir=cache,
        data_files={split: str(root / key) for split, key in layout.preference_data_files(manifest.version).items()},
    )
    assert {"prompt", "chosen", "rejected"} <= set(preference["train"].column_names)
    assert preference["test"].num_rows == manifest.preference_test_samples
    # The card's own configs resolve against the version folder, as on the Hub.
    from_card = datasets.load_dataset(
        str(root / layout.version_prefix(manifest.version)), "preference", cache_dir=cache
    )
    assert from_card["train"].num_rows == manifest.preference_train_samples


def test_rebuilding_from_the_same_inputs_gives_identical_bytes(settings, mongo_db, demo_chunks) -> None:
    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    store = open_object_store(settings)
    before = _version_files(store, first.version)
    shutil.rmtree(settings.data_dir / "object-store")

    again = publish_instruct_dataset(settings, run_id="run-2").manifest
    assert again.version == first.version and again.built_by_run_id == "run-2"
    assert _version_files(open_object_store(settings), again.version) == before
    assert again.files == first.files


def test_unchanged_content_builds_nothing_and_versions_are_immutable(settings, mongo_db, demo_chunks) -> None:
    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    store = open_object_store(settings)
    keys = store.list_keys(f"{layout.DATASETS_PREFIX}/")
    manifest_bytes = store.get_bytes(layout.manifest_key(first.version))

    skipped = publish_instruct_dataset(settings, run_id="run-2")
    assert not skipped.published and "0 documents new or changed" in skipped.reason
    assert "RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS" in skipped.reason
    assert skipped.manifest.version == first.version

    forced = publish_instruct_dataset(settings, run_id="run-3", force=True)
    assert not forced.published and "already exists" in forced.reason
    assert store.list_keys(f"{layout.DATASETS_PREFIX}/") == keys
    assert store.get_bytes(layout.manifest_key(first.version)) == manifest_bytes, "a version is written once"
    assert build_instruct_dataset(settings, run_id="run-4").version == first.version


def test_new_documents_make_a_new_version_only_past_the_threshold(settings, mongo_db, demo_chunks, monkeypatch) -> None:
    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    seed_chunks(settings, documents=2)  # two more documents arrive
    monkeypatch.setenv("RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS", "3")
    get_settings.cache_clear()
    waiting = publish_instruct_dataset(get_settings(), run_id="run-2")
    assert not waiting.published and "only 2 documents new or changed" in waiting.reason
    monkeypatch.setenv("RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS", "2")
    get_settings.cache_clear()
    second = publish_instruct_dataset(get_settings(), run_id="run-3")
    assert second.published and second.manifest.version != first.version
    assert len(second.changes.added) == 2 and second.changes.previous_version == first.version
    assert open_object_store(settings).exists(layout.manifest_key(first.version)), "old versions stay"

    # The two documents go again: the content is the first version's, which LATEST names again.
    from qdrant_client import models

    from ragdag.features.vector_store import CHUNKS_COLLECTION
    from ragdag.stores.qdrant import qdrant_client

    with qdrant_client(settings) as client:
        client.delete(
            CHUNKS_COLLECTION,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="document_id", match=models.MatchAny(any=second.changes.added))]
                )
            ),
        )
    back = publish_instruct_dataset(get_settings(), run_id="run-4")
    assert not back.published and back.latest_changed and back.manifest.version == first.version
    assert latest_dataset_version(settings) == first.version


def test_a_planted_cross_split_copy_is_caught_by_decontamination(settings, mongo_db, demo_chunks) -> None:
    from qdrant_client import models

    from ragdag.datasets.publish import _read_chunks
    from ragdag.features.vector_store import CHUNKS_COLLECTION
    from ragdag.stores.qdrant import qdrant_client

    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    store = open_object_store(settings)
    train = _rows(store, layout.sft_key(first.version, "train"))
    test_docs = {s["document_id"] for s in _rows(store, layout.sft_key(first.version, "test"))}
    # A paragraph of a train answer pasted into a chunk of a test document (the same text under two URLs).
    copied = next(
        p for s in train if s["category"] == "articles" for p in s["output"].split("\n\n") if len(p.split()) >= 30
    )
    target = next(c for c in _read_chunks(settings) if c["document_id"] in test_docs and c["category"] == "articles")
    with qdrant_client(settings) as client:
        [point] = client.scroll(
            CHUNKS_COLLECTION,
            scroll_filter=models.Filter(
                must=[
                    models.FieldCondition(key="document_id", match=models.MatchValue(value=target["document_id"])),
                    models.FieldCondition(key="chunk_index", match=models.MatchValue(value=target["chunk_index"])),
                ]
            ),
            limit=1,
            with_vectors=True,
        )[0]
        payload = {**point.payload, "text": f"{target['text']}\n\n{copied}", "content_hash": "changed"}
        client.upsert(CHUNKS_COLLECTION, [models.PointStruct(id=point.id, vector=point.vector, payload=payload)])

    second = publish_instruct_dataset(settings, run_id="run-2", force=True).manifest
    assert second.decontamination["dropped"] >= 1
    test_outputs = [s["output"] for s in _rows(store, layout.sft_key(second.version, "test"))]
    assert not any(copied in output for output in test_outputs)
    assert all(e.startswith(target["document_id"]) for e in second.decontamination["dropped_extract_ids"])


def test_a_failing_quality_gate_publishes_nothing_and_saves_the_report(
    settings, mongo_db, demo_chunks, tmp_path
) -> None:
    # A stricter suite than the samples meet: instructions of at most 20 characters.
    suites = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir, suites)
    suite = json.loads((suites / "instruct_samples.json").read_text())
    [length] = [e for e in suite["expectations"] if e["meta"]["name"] == "instruction_length"]
    length["kwargs"]["max_value"] = 20
    (suites / "instruct_samples.json").write_text(json.dumps(suite))

    with pytest.raises(DatasetQualityFailed, match="instruction_length") as failed:
        publish_instruct_dataset(settings.model_copy(update={"expectations_dir": suites}), run_id="run-bad")
    report = failed.value.report
    assert not report.success and report.failed == ["instruction_length"]
    store = open_object_store(settings)
    assert store.list_keys(f"{layout.DATASETS_PREFIX}/") == [], "nothing of the version is written"
    reports = store.list_keys("validation/run-bad/instruct_samples/")
    [summary] = [k for k in reports if "/summary-" in k]
    assert json.loads(store.get_bytes(summary))["failed"] == ["instruction_length"]
    assert any("/gx-result-" in k for k in reports)
    assert report.report_uri in str(failed.value)


def test_the_newest_drift_measurement_goes_into_the_next_manifest(tiny_split_settings, mongo_db) -> None:
    settings = tiny_split_settings
    from ragdag.observability.run_records import record_stage_report

    seed_chunks(settings)
    record_stage_report(mongo_db, "embed", "embed-1", {"drift": {"p_value": 0.5, "statistic": 0.01}}, settings=settings)
    record_stage_report(mongo_db, "embed", "embed-2", {"drift": {"p_value": 0.01, "statistic": 0.3}}, settings=settings)
    record_stage_report(mongo_db, "embed", "embed-3", {"drift": None}, settings=settings)
    manifest = publish_instruct_dataset(settings, run_id="run-1").manifest
    assert manifest.drift == {"p_value": 0.01, "statistic": 0.3}
