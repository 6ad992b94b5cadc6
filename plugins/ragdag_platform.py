"""The "RAG platform" page in the Airflow UI: an Airflow plugin with a FastAPI app and a nav entry.

The app (``ragdag.ui.app``) is mounted on the api-server at ``/ragdag``; its pages show the
quarantine, dataset versions, the model registry, lineage and a search over the feature store, and
its JSON API lives under ``/ragdag/api/``. Every route requires Airflow's own authentication and
the permissions of the DAG whose data it shows. The navigation entry embeds the overview page.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ragdag.ui.app import create_app

URL_PREFIX = "/ragdag"


class RagPlatformPlugin(AirflowPlugin):
    name = "ragdag_platform"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "RAG platform"}]
    external_views = [
        {
            "name": "RAG platform",
            "href": "ragdag/",  # relative: resolved against the Airflow base URL
            "destination": "nav",
            "url_route": "rag-platform",  # shown inside the Airflow UI at /plugin/rag-platform
            "nav_top_level": True,  # its own entry in the navigation bar, not under "Plugins"
        },
        {
            "name": "Run record",
            "href": "ragdag/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "rag-platform-run",
        },
    ]
