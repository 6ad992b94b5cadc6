"""What the page asks of the platform: each function delegates to the stage's own service function
(the one the ``ragdag`` CLI calls) and only translates its errors, by their types, into the four
the page knows. A busy or unreachable store (:class:`ragdag.errors.StoreUnavailable`, MongoDB's
connection failures) is answered by the app itself (503 with ``Retry-After``), wherever it comes from.
"""

from __future__ import annotations

from typing import Any

from ragdag.settings import Settings

# How long a page waits for Qdrant's local mode held by another process (an embed run) before it
# answers 503, instead of the tasks' RAGDAG_QDRANT_LOCK_WAIT_S.
STORE_WAIT_S = 2.0


class BadRequest(ValueError):
    """A value of the request that cannot be one (400)."""


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
    from ragdag.validation.quarantine import QuarantineError, QuarantineNotFound, release_quarantined

    try:
        return release_quarantined(settings, quarantine_id, released_by=actor, reason=reason)
    except QuarantineNotFound as error:
        raise NotFound(str(error)) from error
    except QuarantineError as error:
        raise Conflict(str(error)) from error


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
    from ragdag.datasets.layout import InvalidVersionName

    try:
        return show_version(settings, version)
    except InvalidVersionName as error:
        raise BadRequest(str(error)) from error
    except LookupError as error:  # an unknown version, or none published yet (NoDatasetVersion)
        raise NotFound(str(error)) from error


def dataset_diff(settings: Settings, a: str, b: str) -> Any:
    from ragdag.datasets.catalog import diff_versions
    from ragdag.datasets.layout import InvalidVersionName

    try:
        return diff_versions(settings, a, b)
    except InvalidVersionName as error:
        raise BadRequest(str(error)) from error
    except LookupError as error:
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
    from ragdag.training.registry import RegistryError

    model(settings, model_id)  # raises NotFound
    try:
        return action(settings, model_id, actor=actor, reason=reason)
    except RegistryError as error:
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
    from ragdag.stores.qdrant import QdrantUnavailable

    # Qdrant local mode: a path is open in one process at a time (an embed run holds it).
    waiting = settings.model_copy(update={"qdrant_lock_wait_s": min(settings.qdrant_lock_wait_s, STORE_WAIT_S)})
    try:
        return search_chunks(waiting, query, k=k, author=author or None, category=category or None)
    except QdrantUnavailable as error:
        raise Unavailable("the vector store is busy (an embed run holds it); try again in a minute") from error
