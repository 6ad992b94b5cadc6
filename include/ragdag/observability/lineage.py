"""Lineage: model → dataset version → documents (content hashes, suite versions, run ids) → URLs.

:func:`lineage_of` takes a model id, a dataset version or a document id and follows the records
the stages keep: the model registry, the dataset manifests (``source_documents``: document id →
content hash), the documents in MongoDB (their ``validation``) and the run records. The CLI
(``ragdag lineage``) and the UI plugin call it.

Run ids a document does not carry are read from the run records: the crawl run is the crawl task
attempt whose time window holds the document's ``crawled_at``; the embed run is the first
successful embed run that started after the document was validated (embedding reads validated
documents only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ragdag.stages import Stage

if TYPE_CHECKING:
    from pymongo.database import Database

    from ragdag.features.drift import TrainedDataset
    from ragdag.observability.run_records import RunRecord
    from ragdag.settings import Settings
    from ragdag.training.registry import ModelRecord


class DocumentLineage(BaseModel):
    document_id: str
    url: str | None = None
    category: str | None = None
    title: str | None = None
    content_hash: str | None  # the version the dataset used (or the stored one for a document query)
    current_content_hash: str | None = None  # what MongoDB holds now
    changed_since: bool = False
    status: str | None = None
    suite: str | None = None
    suite_version: int | None = None
    crawl_run_id: str | None = None
    validate_run_id: str | None = None
    embed_run_id: str | None = None
    found: bool = True  # False: the dataset names it but MongoDB has it no more


class DatasetLineage(BaseModel):
    version: str
    manifest_uri: str | None = None
    created_at: datetime | None = None
    built_by_run_id: str | None = None
    embedding_models: list[str] = Field(default_factory=list)
    train_samples: int | None = None
    test_samples: int | None = None
    documents: list[DocumentLineage] = Field(default_factory=list)


class ModelLineage(BaseModel):
    model_id: str
    dataset_version: str
    trained_by_run_id: str | None = None
    artifact_uri: str | None = None
    backend: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class LineageGraph(BaseModel):
    query: str
    kind: Literal["model", "dataset", "document"]
    models: list[ModelLineage] = Field(default_factory=list)
    datasets: list[DatasetLineage] = Field(default_factory=list)
    document: DocumentLineage | None = None  # for a document query

    @property
    def urls(self) -> list[str]:
        docs = [d for ds in self.datasets for d in ds.documents] + ([self.document] if self.document else [])
        return sorted({d.url for d in docs if d.url})


class UnknownLineageId(LookupError):
    pass


def latest_trained_model(settings: Settings) -> ModelRecord | None:
    """The newest registry record of a model that finished training."""
    from ragdag.training.registry import ModelStatus, list_models

    return next(iter(list_models(settings, status=ModelStatus.SUCCEEDED)), None)


def trained_dataset(settings: Settings) -> TrainedDataset | None:
    """The dataset version the last trained model learned from, and when it was published (the
    reference of the feature store's drift test); None before a model, or when its manifest is gone."""
    from ragdag.datasets.publish import load_manifest
    from ragdag.features.drift import TrainedDataset

    model = latest_trained_model(settings)
    if model is None:
        return None
    try:
        published = load_manifest(settings, model.dataset_version).created_at
    except Exception:  # noqa: BLE001 - no manifest (deleted, other store): drift compares with the previous run
        return None
    return TrainedDataset(version=model.dataset_version, published_at=_aware(published))


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _document_collections() -> tuple[str, ...]:
    try:
        from ragdag.documents import DOCUMENT_COLLECTIONS
    except ImportError:  # before the lifecycle module
        from ragdag.stores.mongo import DOCUMENT_COLLECTIONS
    return tuple(DOCUMENT_COLLECTIONS)


def _find_document(db: Database, document_id: str) -> dict[str, Any] | None:
    for name in _document_collections():
        doc = db[name].find_one({"_id": document_id}, {"content": 0, "files": 0})
        if doc:
            return doc
    return None


class _Runs:
    """The crawl and embed run records, read once per lineage query."""

    def __init__(self, db: Database) -> None:
        from ragdag.observability.run_records import RunStatus, list_runs

        self.crawl = [r for r in list_runs(db, stage=Stage.CRAWL) if r.finished_at]
        self.embed = sorted(
            (r for r in list_runs(db, stage=Stage.EMBED) if r.status == RunStatus.SUCCESS and r.task_id),
            key=lambda r: r.started_at,
        )

    def crawl_run(self, crawled_at: datetime | None) -> str | None:
        if crawled_at is None:
            return None
        for record in self.crawl:
            if _aware(record.started_at) <= crawled_at <= _aware(record.finished_at):
                return record.run_id
        return None

    def embed_run(self, validated_at: datetime | None) -> str | None:
        if validated_at is None:
            return None
        first: RunRecord | None = next((r for r in self.embed if _aware(r.started_at) >= validated_at), None)
        return first.run_id if first else None


def _document_lineage(
    db: Database, runs: _Runs, document_id: str, used_hash: str | None, used: dict[str, Any] | None = None
) -> DocumentLineage:
    """``used``: what the dataset manifest recorded of the document when it was built (preferred)."""
    used = used or {}
    doc = _find_document(db, document_id)
    if doc is None:
        return DocumentLineage(
            document_id=document_id,
            content_hash=used_hash,
            found=False,
            url=used.get("url"),
            category=used.get("category"),
            title=used.get("title"),
            suite_version=used.get("validation_suite_version"),
            validate_run_id=used.get("validation_run_id"),
        )
    validation = doc.get("validation") or {}
    current = doc.get("content_hash")
    validated_at = _aware(validation.get("validated_at") or validation.get("released_at"))
    title = used.get("title") or doc.get("title")
    return DocumentLineage(
        document_id=document_id,
        url=used.get("url") or doc.get("url"),
        category=used.get("category") or doc.get("category"),
        title=title if isinstance(title, str) else None,
        content_hash=used_hash or current,
        current_content_hash=current,
        changed_since=bool(used_hash and current and used_hash != current),
        status=validation.get("status"),
        suite=validation.get("suite"),
        suite_version=used.get("validation_suite_version") or validation.get("suite_version"),
        crawl_run_id=doc.get("crawl_run_id") or runs.crawl_run(_aware(doc.get("crawled_at"))),
        validate_run_id=used.get("validation_run_id") or validation.get("run_id"),
        embed_run_id=doc.get("embed_run_id") or runs.embed_run(validated_at),
    )


def _dataset_lineage(settings: Settings, db: Database, runs: _Runs, version: str) -> DatasetLineage:
    from ragdag.datasets.publish import load_manifest

    manifest = load_manifest(settings, version)
    return DatasetLineage(
        version=manifest.version,
        manifest_uri=manifest.manifest_uri,
        created_at=manifest.created_at,
        built_by_run_id=manifest.built_by_run_id,
        embedding_models=list(manifest.embedding_models),
        train_samples=manifest.train_samples,
        test_samples=manifest.test_samples,
        documents=[
            _document_lineage(db, runs, doc_id, digest, _recorded(manifest, doc_id))
            for doc_id, digest in sorted(manifest.source_documents.items())
        ],
    )


def _recorded(manifest: Any, document_id: str) -> dict[str, Any]:
    recorded = (getattr(manifest, "documents", None) or {}).get(document_id)
    return recorded.model_dump() if hasattr(recorded, "model_dump") else dict(recorded or {})


def _model(record: Any) -> ModelLineage:
    return ModelLineage(
        model_id=record.model_id,
        dataset_version=record.dataset_version,
        trained_by_run_id=record.trained_by_run_id,
        artifact_uri=record.artifact_uri,
        backend=record.backend,
        metrics=dict(record.metrics),
        created_at=record.created_at,
    )


def _models_of_dataset(settings: Settings, version: str) -> list[ModelLineage]:
    from ragdag.training.registry import list_models

    return [_model(m) for m in reversed(list_models(settings)) if m.dataset_version == version]  # oldest first


def _dataset_exists(settings: Settings, version: str) -> bool:
    from ragdag.datasets.publish import load_manifest

    try:
        load_manifest(settings, version)
    except Exception:  # noqa: BLE001 - missing key on disk or S3
        return False
    return True


def _datasets_with_document(settings: Settings, document_id: str) -> list[str]:
    from ragdag.datasets.catalog import list_versions

    return [m.version for m in reversed(list_versions(settings)) if document_id in m.source_documents]


def lineage_of(settings: Settings, identifier: str) -> LineageGraph:
    """The lineage of a model id, a dataset version or a document id (tried in that order)."""
    from ragdag.stores.mongo import mongo_database
    from ragdag.training.registry import find_model

    with mongo_database(settings) as db:
        runs = _Runs(db)
        model = find_model(db, identifier)
        if model is not None:
            return LineageGraph(
                query=identifier,
                kind="model",
                models=[_model(model)],
                datasets=[_dataset_lineage(settings, db, runs, model.dataset_version)],
            )
        if _dataset_exists(settings, identifier):
            return LineageGraph(
                query=identifier,
                kind="dataset",
                models=_models_of_dataset(settings, identifier),
                datasets=[_dataset_lineage(settings, db, runs, identifier)],
            )
        if _find_document(db, identifier) is not None:
            versions = _datasets_with_document(settings, identifier)
            datasets = [_dataset_lineage(settings, db, runs, v) for v in versions]
            for dataset in datasets:  # only this document's row of each dataset
                dataset.documents = [d for d in dataset.documents if d.document_id == identifier]
            return LineageGraph(
                query=identifier,
                kind="document",
                document=_document_lineage(db, runs, identifier, None),
                datasets=datasets,
                models=[m for v in versions for m in _models_of_dataset(settings, v)],
            )
    raise UnknownLineageId(
        f"{identifier!r} is no model id (model_registry), dataset version (instruct_datasets/<version>/"
        "manifest.json) or document id (articles, posts, repositories)"
    )


def render_text(graph: LineageGraph) -> str:
    """The chain as indented lines: model → dataset → documents → URL."""
    lines: list[str] = []
    for model in graph.models:
        numbers = {
            k: round(v, 4) for k, v in model.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        lines.append(f"model {model.model_id} (run {model.trained_by_run_id}, {model.backend}) metrics {numbers}")
    for dataset in graph.datasets:
        lines.append(
            f"  dataset {dataset.version} (run {dataset.built_by_run_id}, {dataset.train_samples} train / "
            f"{dataset.test_samples} test, {len(dataset.documents)} documents) {dataset.manifest_uri}"
        )
        for doc in dataset.documents:
            lines.append("    " + _document_line(doc))
    if graph.document is not None:
        lines.append("document " + _document_line(graph.document))
    return "\n".join(lines)


def _document_line(doc: DocumentLineage) -> str:
    if not doc.found:
        return f"{doc.document_id} content {str(doc.content_hash)[:12]} (no longer in MongoDB)"
    changed = " CHANGED SINCE" if doc.changed_since else ""
    return (
        f"{doc.document_id} {doc.category} content {str(doc.content_hash)[:12]}{changed} "
        f"suite {doc.suite} v{doc.suite_version} [{doc.status}] crawl {doc.crawl_run_id} "
        f"validate {doc.validate_run_id} embed {doc.embed_run_id}\n      → {doc.url}"
    )
