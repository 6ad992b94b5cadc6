"""Lineage from a model to its documents' URLs, the runs CLI and the documents built from the records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ragdag.observability.lineage import UnknownLineageId, lineage_of, render_text
from ragdag.observability.run_records import RunRecord, RunStatus, Trigger, TriggerKind, code_version, save_record

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
URLS = ["http://127.0.0.1:8001/airflow-assets.html", "http://127.0.0.1:8001/feature-stores.html"]


def _record(stage: str, run_id: str, task_id: str, start: datetime, seconds: float) -> RunRecord:
    return RunRecord(
        id=f"{stage}-dag/{run_id}/{task_id}/-1/1",
        stage=stage,
        run_id=run_id,
        dag_id=f"{stage}-dag",
        task_id=task_id,
        trigger=Trigger(kind=TriggerKind.ASSET, run_type="asset_triggered"),
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
        status=RunStatus.SUCCESS,
        code_version=code_version(),
        settings_hash="0" * 16,
    )


@pytest.fixture
def chain(settings, mongo_db):
    """Two crawled, validated, embedded documents, a dataset version built from them, a model on it."""
    from ragdag.datasets.publish import DatasetManifest
    from ragdag.models import content_hash, document_id
    from ragdag.stores.object_store import open_object_store
    from ragdag.training import registry

    ids = [document_id(u) for u in URLS]
    for i, (doc_id, url) in enumerate(zip(ids, URLS)):
        mongo_db.articles.insert_one(
            {
                "_id": doc_id,
                "url": url,
                "category": "articles",
                "title": f"Page {i}",
                "content": f"text {i}",
                "content_hash": content_hash(f"text {i}"),
                "crawled_at": T0 + timedelta(seconds=i),
                "validation": {
                    "status": "validated",
                    "suite": "articles",
                    "suite_version": 3,
                    "run_id": "validate-1",
                    "validated_at": T0 + timedelta(minutes=5),
                    "content_hash": content_hash(f"text {i}"),
                },
            }
        )
    save_record(mongo_db, _record("crawl", "crawl-1", "crawl", T0 - timedelta(seconds=5), 30))
    save_record(mongo_db, _record("embed", "embed-0", "embed", T0 - timedelta(days=1), 30))  # before: not it
    save_record(mongo_db, _record("embed", "embed-1", "embed", T0 + timedelta(minutes=6), 30))
    version = "v-0123456789abcdef"
    store = open_object_store(settings)
    manifest = DatasetManifest(
        version=version,
        created_at=T0 + timedelta(minutes=10),
        train_samples=3,
        test_samples=1,
        test_share=0.2,
        seed=42,
        train_uri="train",
        test_uri="test",
        manifest_uri=store.uri(f"instruct_datasets/{version}/manifest.json"),
        source_documents={d: content_hash(f"text {i}") for i, d in enumerate(ids)},
        embedding_models=["sentence-transformers/all-MiniLM-L6-v2"],
        built_by_run_id="dataset-1",
        code_version="0.1.0",
        published=True,
    )
    store.put_bytes(f"instruct_datasets/{version}/manifest.json", manifest.model_dump_json().encode())
    store.put_bytes("instruct_datasets/LATEST", version.encode())
    record = registry.ModelRecord.model_validate(
        {
            "model_id": "ragdag-twin-1",
            "job_name": "ragdag-twin-1",
            "status": "succeeded",
            "dataset_version": version,
            "dataset_manifest_uri": manifest.manifest_uri,
            "dataset_manifest_sha256": "0" * 64,
            "base_model": "",
            "adapter": False,
            "backend": "local",
            "hyperparameters": {"steps": "30"},
            "code_version": "0.1.0",
            "metrics": {"eval_loss": 2.5},
            "artifact_uri": "models/x",
            "trained_by_run_id": "train-1",
            "created_at": T0 + timedelta(minutes=20),
        }
    )
    save = getattr(registry, "save_model", None) or registry.register_model  # the registry is being reworked
    save(mongo_db, record)
    return {"ids": ids, "version": version, "model_id": "ragdag-twin-1"}


def test_a_model_leads_to_its_dataset_documents_runs_and_urls(settings, mongo_db, chain) -> None:
    mongo_db.articles.update_one({"_id": chain["ids"][1]}, {"$set": {"content_hash": "changed"}})

    graph = lineage_of(settings, chain["model_id"])

    assert graph.kind == "model" and graph.models[0].trained_by_run_id == "train-1"
    (dataset,) = graph.datasets
    assert dataset.version == chain["version"] and dataset.built_by_run_id == "dataset-1"
    assert graph.urls == sorted(URLS)
    first, second = sorted(dataset.documents, key=lambda d: d.url)
    assert (first.crawl_run_id, first.validate_run_id, first.embed_run_id) == ("crawl-1", "validate-1", "embed-1")
    assert first.suite == "articles" and first.suite_version == 3 and not first.changed_since
    assert second.changed_since and second.current_content_hash == "changed"
    assert URLS[0] in render_text(graph)


def test_a_dataset_version_and_a_document_have_their_lineage_too(settings, chain) -> None:
    by_version = lineage_of(settings, chain["version"])
    assert by_version.kind == "dataset" and [m.model_id for m in by_version.models] == [chain["model_id"]]

    by_document = lineage_of(settings, chain["ids"][0])
    assert by_document.kind == "document" and by_document.document.url == URLS[0]
    assert [d.version for d in by_document.datasets] == [chain["version"]]
    assert [len(d.documents) for d in by_document.datasets] == [1]
    assert [m.model_id for m in by_document.models] == [chain["model_id"]]

    with pytest.raises(UnknownLineageId, match="no model id"):
        lineage_of(settings, "nothing-like-this")


def test_the_cli_prints_lineage_runs_and_builds_the_documents(settings, chain, capsys, tmp_path) -> None:
    from ragdag.cli import main

    assert main(["lineage", chain["model_id"], "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["datasets"][0]["version"] == chain["version"]

    assert main(["runs", "list", "--stage", "embed", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["embed-1", "embed-0"]
    assert main(["runs", "list"]) == 0
    assert "crawl-dag.crawl" in capsys.readouterr().out

    assert main(["lineage", "nothing-like-this"]) == 2

    assert main(["docs", "build", "--out", str(tmp_path / "docs")]) == 0
    dataset_card = (tmp_path / "docs" / "dataset_card.md").read_text()
    model_card = (tmp_path / "docs" / "model_card.md").read_text()
    system = (tmp_path / "docs" / "system_record.md").read_text()
    assert chain["version"] in dataset_card and "## Data governance and quality checks" in dataset_card
    assert chain["model_id"] in model_card and "eval_loss" in model_card
    for heading in (
        "General description and intended purpose",
        "data sources and data governance",
        "Quality checks",
        "Evaluation",
        "Monitoring and record keeping",
        "Limits",
        "Versions",
    ):
        assert heading in system
    assert chain["version"] in system and chain["model_id"] in system
