"""Errors a retry cannot fix: the one base type, :class:`PermanentError`.

A bad conf, a verdict on the data (a failed quality gate), a missing input or connection, a
source that refuses us for good: asking again gives the same answer. Every such error derives
from :class:`PermanentError`, and every DAG fails on it at once, without its retries (the
``retry_policy`` of ``ragdag.dag_wiring.DEFAULT_ARGS``, Airflow's own mechanism); any other error
is retried. A permanent error's message says what to change.

Light on purpose (no imports): every stage imports it, and DAG files name it at parse time.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A failure no retry can fix; the message says what to change."""
