"""What the page asks of the platform: each function delegates to the stage's own service function
(the one the ``ragdag`` CLI calls) and only translates its errors into the three the page knows.
"""

from __future__ import annotations

from typing import Any

from ragdag.settings import Settings


class NotFound(LookupError):
    """Nothing with that id (404)."""


class Conflict(RuntimeError):
    """The action cannot be done in the current state (409)."""


class Unavailable(RuntimeError):
    """A store is busy or down; try again (503)."""


def overview(settings: Settings) -> dict[str, Any]:
    """The latest run of each DAG of the chain, summed up from its task records (None where a DAG
    has not run yet)."""
    from ragdag.assets import CHAIN_DAG_IDS
    from ragdag.observability.run_summaries import latest_runs
    from ragdag.stores.mongo import mongo_database

    with mongo_database(settings) as db:
        return {"stages": latest_runs(db, CHAIN_DAG_IDS)}


def run(settings: Settings, dag_id: str, run_id: str) -> list[Any]:
    """Every task record of one DAG run, oldest first (what the run's page in Airflow links to)."""
    from ragdag.observability.run_records import list_runs
    from ragdag.stores.mongo import mongo_database

    with mongo_database(settings) as db:
        records = [r for r in list_runs(db, run_id=run_id) if r.dag_id == dag_id]
    if not records:
        raise NotFound(f"no run record of {dag_id} run {run_id!r}")
    return list(reversed(records))


def quarantine(settings: Settings, *, include_released: bool = False) -> list[Any]:
    from ragdag.validation.quarantine import list_quarantined

    return list_quarantined(settings, include_released=include_released)


def release(settings: Settings, quarantine_id: str, actor: str, reason: str) -> Any:
    from ragdag.validation.quarantine import QuarantineError, release_quarantined

    try:
        return release_quarantined(settings, quarantine_id, released_by=actor, reason=reason)
    except QuarantineError as error:
        raise (NotFound if "no quarantine record" in str(error) else Conflict)(str(error)) from error


def validation_report_file(settings: Settings, key: str) -> tuple[bytes, str]:
    """A file of the validation evidence (a run's Data Docs, its results): bytes and media type."""
    import mimetypes

    from ragdag.stores.object_store import open_object_store
    from ragdag.validation.reports import ROOT

    parts = key.split("/")
    if parts[0] != ROOT or any(part in ("", ".", "..") for part in parts):
        raise NotFound(f"no validation report {key!r}")
    store = open_object_store(settings)
    if not store.exists(key):
        raise NotFound(f"no validation report {key!r}")
    return store.get_bytes(key), mimetypes.guess_type(key)[0] or "application/octet-stream"


def datasets(settings: Settings) -> list[Any]:
    from ragdag.datasets.catalog import list_versions

    return list_versions(settings)


def dataset(settings: Settings, version: str) -> Any:
    from ragdag.datasets.catalog import show_version

    try:
        return show_version(settings, version)
    except (KeyError, FileNotFoundError, LookupError) as error:
        raise NotFound(f"no dataset version {version!r}") from error


def dataset_diff(settings: Settings, a: str, b: str) -> Any:
    from ragdag.datasets.catalog import diff_versions

    try:
        return diff_versions(settings, a, b)
    except (KeyError, FileNotFoundError, LookupError) as error:
        raise NotFound(str(error)) from error


def models(settings: Settings) -> list[Any]:
    from ragdag.training.registry import list_models

    return list_models(settings)


def model(settings: Settings, model_id: str) -> Any:
    from ragdag.training.registry import get_model

    found = get_model(settings, model_id)
    if found is None:
        raise NotFound(f"no model {model_id!r} in the registry")
    return found


def promote(settings: Settings, model_id: str, actor: str, reason: str) -> Any:
    from ragdag.training.registry import promote_model

    return _registry_action(promote_model, settings, model_id, actor, reason)


def archive(settings: Settings, model_id: str, actor: str, reason: str) -> Any:
    from ragdag.training.registry import archive_model

    return _registry_action(archive_model, settings, model_id, actor, reason)


def _registry_action(action: Any, settings: Settings, model_id: str, actor: str, reason: str) -> Any:
    if model(settings, model_id) is None:  # raises NotFound
        raise NotFound(model_id)
    try:
        return action(settings, model_id, actor=actor, reason=reason)
    except ValueError as error:
        raise Conflict(str(error)) from error


def lineage(settings: Settings, subject_id: str) -> Any:
    from ragdag.observability.lineage import lineage_of

    try:
        return lineage_of(settings, subject_id)
    except LookupError as error:
        raise NotFound(str(error)) from error


def search(
    settings: Settings, query: str, *, k: int, author: str | None = None, category: str | None = None
) -> list[Any]:
    from ragdag.features.retrieval import search as search_chunks

    try:
        return search_chunks(settings, query, k=k, author=author or None, category=category or None)
    except RuntimeError as error:
        # Qdrant local mode: a path is open in one process at a time (an embed run holds it).
        if "already accessed" in str(error) or "locked" in str(error).lower():
            raise Unavailable("the vector store is busy (an embed run holds it); try again in a minute") from error
        raise
