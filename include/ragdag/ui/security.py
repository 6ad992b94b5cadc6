"""Who may see and do what on the platform's page: Airflow's own authentication and permissions.

Plugin FastAPI apps are not protected by Airflow by default, so every route of the page depends on
Airflow's security dependencies (``airflow.api_fastapi.core_api.security``): the same JWT as the UI
and the REST API (``Authorization: Bearer`` or the UI's ``_token`` cookie), checked by the
configured auth manager. Each page's data belongs to the DAG that writes it, and access follows
that DAG's permissions: reading needs ``GET`` on the DAG, acting (release, promote, archive) needs
``PUT`` on it — with the simple auth manager a ``viewer`` reads, a ``user`` (or above) acts.
"""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends

from ragdag.assets import (
    EMBEDDED_CHUNKS,
    INSTRUCT_DATASET,
    PRODUCING_DAG,
    RAW_DOCUMENTS,
    TRAINED_MODEL,
    VALIDATED_DOCUMENTS,
)

# A page's data is what one DAG writes: its permissions are those of the DAG producing that Asset.
CRAWL_DAG = PRODUCING_DAG[RAW_DOCUMENTS.name]  # documents, crawl errors
VALIDATION_DAG = PRODUCING_DAG[VALIDATED_DOCUMENTS.name]  # validation state, quarantine
FEATURES_DAG = PRODUCING_DAG[EMBEDDED_CHUNKS.name]  # chunks, search
DATASETS_DAG = PRODUCING_DAG[INSTRUCT_DATASET.name]  # dataset versions
TRAINING_DAG = PRODUCING_DAG[TRAINED_MODEL.name]  # model registry


def can_read(dag_id: str) -> Any:
    """A route dependency: the user may read the DAG ``dag_id`` (and so the data it writes)."""
    return Depends(requires_access_dag("GET", param_dag_id=dag_id))


def can_edit(dag_id: str) -> Any:
    """A route dependency: the user may act on the DAG ``dag_id`` (release, promote, archive)."""
    return Depends(requires_access_dag("PUT", param_dag_id=dag_id))


def actor_name(user: BaseUser) -> str:
    """How the audit trail names an Airflow user."""
    return f"airflow:{user.get_name()}"


CurrentUser = GetUserDep
