"""The hostname a local Celery worker reports for its task instances (``[core] hostname_callable``).

Part of the e2e harness: ``scripts/airflow_local.py`` starts several Celery workers on one machine
and gives each ``AIRFLOW__CORE__HOSTNAME_CALLABLE=worker_hostname.hostname`` and its own
``LOCAL_WORKER_HOSTNAME``, so the REST API's task instances say which worker ran them.
"""

from __future__ import annotations

import os
import socket

HOSTNAME_VARIABLE = "LOCAL_WORKER_HOSTNAME"


def hostname() -> str:
    return os.environ.get(HOSTNAME_VARIABLE) or socket.getfqdn()
