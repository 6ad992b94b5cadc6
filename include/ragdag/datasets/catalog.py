"""What the CLI and the UI show of the published dataset versions: list, show, diff.

Service functions returning pydantic models, read from the object store through the layout; the
``ragdag datasets`` commands and the Airflow UI plugin both call these (nothing implemented twice).
"""

from __future__ import annotations

from pydantic import BaseModel

from ragdag.datasets import layout
from ragdag.datasets.filters import FilterCount
from ragdag.datasets.publish import DatasetManifest, latest_dataset_version, load_manifest, verify_version
from ragdag.settings import Settings
from ragdag.stores.object_store import open_object_store

LATEST = "latest"


class VersionDetails(BaseModel):
    manifest: DatasetManifest
    is_latest: bool
    card: str | None
    files_intact: dict[str, bool]  # file name -> its sha256 still matches the manifest


class VersionDiff(BaseModel):
    a: str
    b: str
    documents_added: list[str]
    documents_removed: list[str]
    documents_changed: list[str]
    samples: dict[str, dict[str, int]]  # split -> {"a": n, "b": n, "delta": n}
    filters: dict[str, dict[str, int]]  # filter -> {"a": kept, "b": kept}
    generator: dict[str, str | None]


def list_versions(settings: Settings) -> list[DatasetManifest]:
    """Every complete version (those with a manifest), newest first."""
    store = open_object_store(settings)
    versions = [
        v for key in store.list_keys(f"{layout.DATASETS_PREFIX}/") if (v := layout.version_of_manifest_key(key))
    ]
    manifests = [load_manifest(settings, version) for version in versions]
    return sorted(manifests, key=lambda m: (m.created_at, m.version), reverse=True)


def resolve_version(settings: Settings, version_or_latest: str) -> str:
    return latest_dataset_version(settings) if version_or_latest == LATEST else version_or_latest


def show_version(settings: Settings, version_or_latest: str) -> VersionDetails:
    version = resolve_version(settings, version_or_latest)
    store = open_object_store(settings)
    if not store.exists(layout.manifest_key(version)):
        known = ", ".join(m.version for m in list_versions(settings)) or "none"
        raise LookupError(f"no dataset version {version!r} (published: {known})")
    manifest = load_manifest(settings, version)
    card_key = layout.card_key(version)
    return VersionDetails(
        manifest=manifest,
        is_latest=store.exists(layout.LATEST_KEY) and latest_dataset_version(settings) == version,
        card=store.get_bytes(card_key).decode("utf-8") if store.exists(card_key) else None,
        files_intact=verify_version(store, manifest),
    )


def _kept(filters: list[FilterCount]) -> dict[str, int]:
    return {f.name: f.after for f in filters}


def diff_versions(settings: Settings, a: str, b: str) -> VersionDiff:
    for name in (a, b):  # both names checked before either is looked up
        if name != LATEST:
            layout.check_version_name(name)
    first = show_version(settings, a).manifest
    second = show_version(settings, b).manifest
    docs_a, docs_b = first.source_documents, second.source_documents
    counts = {
        "train": (first.train_samples, second.train_samples),
        "test": (first.test_samples, second.test_samples),
        "preference_train": (first.preference_train_samples, second.preference_train_samples),
        "preference_test": (first.preference_test_samples, second.preference_test_samples),
    }
    kept_a, kept_b = _kept(first.filters), _kept(second.filters)
    return VersionDiff(
        a=first.version,
        b=second.version,
        documents_added=sorted(set(docs_b) - set(docs_a)),
        documents_removed=sorted(set(docs_a) - set(docs_b)),
        documents_changed=sorted(d for d in set(docs_a) & set(docs_b) if docs_a[d] != docs_b[d]),
        samples={split: {"a": x, "b": y, "delta": y - x} for split, (x, y) in counts.items()},
        filters={name: {"a": kept_a.get(name, 0), "b": kept_b.get(name, 0)} for name in sorted({*kept_a, *kept_b})},
        generator={
            "a": first.generation.generator if first.generation else None,
            "b": second.generation.generator if second.generation else None,
        },
    )
