"""Validation evidence in the object store, under ``validation/<run_id>/``.

Per category and batch: the GX validation result (``gx-result-<stamp>.json``, loadable by GX) and
the per-document outcomes (``outcomes-<stamp>.json``); per category the GX Data Docs site
(``data-docs/index.html`` with its pages and static assets, copied from the local folder GX built
it in); per run ``summary.json``. ``<stamp>`` is the attempt's start time plus the batch number,
so a retried task adds files next to the first attempt's instead of overwriting them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ragdag.models import Category
from ragdag.stores.object_store import ObjectStore, run_folder
from ragdag.validation.gate import BatchOutcome

ROOT = "validation"
DATA_DOCS = "data-docs"


def category_prefix(run_id: str, category: Category) -> str:
    return f"{ROOT}/{run_folder(run_id)}/{category.value}"


def data_docs_index_key(run_id: str, category: Category) -> str:
    """Where :func:`publish_data_docs` puts the index page of a run's Data Docs for a category."""
    return f"{category_prefix(run_id, category)}/{DATA_DOCS}/index.html"


def batch_stamp(attempt_started_at: datetime, batch_number: int) -> str:
    return f"{attempt_started_at:%Y%m%dT%H%M%S%fZ}-{batch_number:03d}"


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str).encode("utf-8")


def write_batch_report(
    store: ObjectStore,
    *,
    run_id: str,
    outcome: BatchOutcome,
    stamp: str,
    validated: list[str],
    quarantined: dict[str, str],
    skipped: list[str],
) -> list[str]:
    """Store the GX result and the per-document outcomes of one batch; return their URIs."""
    prefix = category_prefix(run_id, outcome.category)
    outcomes = {
        "run_id": run_id,
        "category": outcome.category.value,
        "suite": outcome.suite,
        "suite_version": outcome.suite_version,
        "validated": validated,
        "quarantined": [
            {
                "document_id": doc_id,
                "quarantine_id": quarantined[doc_id],
                "failed_expectations": [f.model_dump(mode="json") for f in outcome.failures[doc_id]],
            }
            for doc_id in quarantined
        ],
        "skipped": skipped,
    }
    return [
        store.put_bytes(f"{prefix}/gx-result-{stamp}.json", _json_bytes(outcome.result)),
        store.put_bytes(f"{prefix}/outcomes-{stamp}.json", _json_bytes(outcomes)),
    ]


def publish_data_docs(store: ObjectStore, *, run_id: str, category: Category, site_dir: Path) -> str | None:
    """Copy a built Data Docs site to the object store; return the URI of its index page."""
    index = site_dir / "index.html"
    if not index.is_file():
        return None
    prefix = f"{category_prefix(run_id, category)}/{DATA_DOCS}"
    files = sorted(p for p in site_dir.rglob("*") if p.is_file())
    # GX copies its whole asset folder (4 MB, mostly tutorial GIFs) into every site, while the
    # pages use a couple of images: upload only the static files a page or stylesheet names.
    pages = "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in files if p.suffix in {".html", ".css"})
    for path in files:
        key = path.relative_to(site_dir).as_posix()
        if key.startswith("static/") and path.name not in pages:
            continue
        store.put_bytes(f"{prefix}/{key}", path.read_bytes())
    return store.uri(data_docs_index_key(run_id, category))


def write_summary(store: ObjectStore, *, run_id: str, summary: dict[str, Any]) -> str:
    return store.put_bytes(f"{ROOT}/{run_folder(run_id)}/summary.json", _json_bytes(summary))
