"""Errors a retry cannot fix: the one base type, :class:`PermanentError`.

A bad conf, a verdict on the data (a failed quality gate), a missing input or connection, a
source that refuses us for good: asking again gives the same answer. Every such error derives
from :class:`PermanentError`, and every DAG fails on it at once, without its retries (the
``retry_policy`` of ``ragdag.dag_wiring.DEFAULT_ARGS``, Airflow's own mechanism); any other error
is retried. A permanent error's message says what to change.

:class:`StoreUnavailable` is its transient counterpart: a store busy or down for now (Qdrant's
local mode held by another process, ...); a retry later can succeed, and the UI answers 503 with
a ``Retry-After``.

Light on purpose (no imports): every stage imports it, and DAG files name it at parse time.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A failure no retry can fix; the message says what to change."""


class StoreUnavailable(Exception):
    """A store is busy or down for now; a retry later can succeed."""
