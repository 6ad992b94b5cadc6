"""Test-harness shim (on ``PYTHONPATH`` only for ``scripts/airflow_local.py``'s CeleryExecutor mode).

apache-airflow-providers-celery 3.26.0 imports ``retry`` from ``celery.backends.database``, which
Celery 5.7.0 removed (the provider allows ``celery>=5.5.0,<6``): with Celery 5.7 the scheduler and
``airflow celery worker`` fail at import. The name only decorates the provider's query of a
*database* result backend; the harness uses redis as the result backend, so an identity decorator
stands in for it. The real fix is a pin (``celery<5.7``) or a provider that does not import it.
"""

from __future__ import annotations


def _patch_celery_database_retry() -> None:
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("celery").split(".")[:2])
    except Exception:  # noqa: BLE001 - no celery, or an odd version: nothing to do
        return
    if (major, minor) < (5, 7):
        return
    import celery.backends.database as database

    if not hasattr(database, "retry"):
        database.retry = lambda function: function  # type: ignore[attr-defined]


_patch_celery_database_retry()
