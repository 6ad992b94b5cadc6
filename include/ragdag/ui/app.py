"""The platform's own page inside the Airflow UI: a FastAPI app the plugin mounts at ``/ragdag``.

Two faces over the same service functions the ``ragdag`` CLI calls (nothing is implemented here
twice): HTML pages (``/ragdag/``, ``/ragdag/quarantine``, …) that the Airflow UI shows in its
navigation, and their JSON API under ``/ragdag/api/``. Every route requires Airflow's
authentication and the permissions of the DAG whose data it shows (:mod:`ragdag.ui.security`),
the API's docs and OpenAPI schema included (a viewer of the overview may read them). Only
``/ragdag/static/`` is public: it holds the page's own stylesheet and script, no data.

Errors are answered by type: :class:`~ragdag.ui.services.BadRequest` 400, ``NotFound`` 404,
``Conflict`` 409, and a busy or unreachable store (``Unavailable``,
:class:`ragdag.errors.StoreUnavailable`, MongoDB's ``ConnectionFailure``) 503 with ``Retry-After``.

Routes are plain ``def`` functions: FastAPI runs them in a thread pool, so the blocking MongoDB,
Qdrant and object-store calls never stall the api-server's event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ragdag.errors import StoreUnavailable
from ragdag.settings import get_settings
from ragdag.ui import services
from ragdag.ui.pages import jsonable as _json
from ragdag.ui.pages import render_page
from ragdag.ui.security import (
    DATASETS_DAG,
    FEATURES_DAG,
    TRAINING_DAG,
    VALIDATION_DAG,
    CurrentUser,
    actor_name,
    can_edit,
    can_read,
)

API_PREFIX = "/api"
MAX_QUERY_CHARS = 500
RETRY_AFTER_S = 30  # a busy store: about one embed batch, or a MongoDB restart


class ActionRequest(BaseModel):
    """The body of every write action: why (recorded in the audit trail with who and when)."""

    reason: str = Field(min_length=3, max_length=2000)


def build_api() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)

    @api.get("/overview", dependencies=[can_read(VALIDATION_DAG)])
    def overview() -> Any:
        return _json(services.overview(get_settings()))

    @api.get("/runs/{dag_id}/{run_id}", dependencies=[can_read(VALIDATION_DAG)])
    def run(dag_id: str, run_id: str) -> Any:
        return _json(services.run(get_settings(), dag_id, run_id))

    @api.get("/quarantine", dependencies=[can_read(VALIDATION_DAG)])
    def quarantine(include_released: bool = False) -> Any:
        return _json(services.quarantine(get_settings(), include_released=include_released))

    @api.post("/quarantine/{quarantine_id}/release", dependencies=[can_edit(VALIDATION_DAG)])
    def release(quarantine_id: str, user: CurrentUser, body: ActionRequest = Body(...)) -> Any:
        return _json(services.release(get_settings(), quarantine_id, actor_name(user), body.reason))

    @api.get("/datasets", dependencies=[can_read(DATASETS_DAG)])
    def datasets() -> Any:
        return _json(services.datasets(get_settings()))

    @api.get("/datasets/diff", dependencies=[can_read(DATASETS_DAG)])
    def dataset_diff(a: str, b: str) -> Any:
        return _json(services.dataset_diff(get_settings(), a, b))

    @api.get("/datasets/{version}", dependencies=[can_read(DATASETS_DAG)])
    def dataset(version: str) -> Any:
        return _json(services.dataset(get_settings(), version))

    @api.get("/models", dependencies=[can_read(TRAINING_DAG)])
    def models() -> Any:
        return _json(services.models(get_settings()))

    @api.get("/models/{model_id}", dependencies=[can_read(TRAINING_DAG)])
    def model(model_id: str) -> Any:
        return _json(services.model(get_settings(), model_id))

    @api.post("/models/{model_id}/promote", dependencies=[can_edit(TRAINING_DAG)])
    def promote(model_id: str, user: CurrentUser, body: ActionRequest = Body(...)) -> Any:
        return _json(services.promote(get_settings(), model_id, actor_name(user), body.reason))

    @api.post("/models/{model_id}/archive", dependencies=[can_edit(TRAINING_DAG)])
    def archive(model_id: str, user: CurrentUser, body: ActionRequest = Body(...)) -> Any:
        return _json(services.archive(get_settings(), model_id, actor_name(user), body.reason))

    @api.get("/lineage/{subject_id}", dependencies=[can_read(TRAINING_DAG)])
    def lineage(subject_id: str) -> Any:
        return _json(services.lineage(get_settings(), subject_id))

    @api.get("/search", dependencies=[can_read(FEATURES_DAG)])
    def search(
        q: str = Query(min_length=1, max_length=MAX_QUERY_CHARS),
        k: int = Query(5, ge=1, le=50),
        author: str | None = None,
        category: str | None = None,
    ) -> Any:
        return _json(services.search(get_settings(), q, k=k, author=author, category=category))

    return api


def build_pages() -> APIRouter:
    pages = APIRouter()

    @pages.get("/", response_class=HTMLResponse, dependencies=[can_read(VALIDATION_DAG)])
    def overview_page(request: Request) -> HTMLResponse:
        return render_page(request, "overview", overview=services.overview(get_settings()))

    @pages.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=[can_read(VALIDATION_DAG)])
    def run_page(request: Request, dag_id: str, run_id: str) -> HTMLResponse:
        records = services.run(get_settings(), dag_id, run_id)
        return render_page(request, "run", dag_id=dag_id, run_id=run_id, records=records)

    @pages.get("/reports/{key:path}", dependencies=[can_read(VALIDATION_DAG)])
    def report_file(key: str) -> Response:
        content, media_type = services.validation_report_file(get_settings(), key)
        # GX's Data Docs show crawled values: shown sandboxed, so no script in them ever runs.
        return Response(content, media_type=media_type, headers={"Content-Security-Policy": "sandbox"})

    @pages.get("/quarantine", response_class=HTMLResponse, dependencies=[can_read(VALIDATION_DAG)])
    def quarantine_page(request: Request, include_released: bool = False) -> HTMLResponse:
        entries = services.quarantine(get_settings(), include_released=include_released)
        return render_page(request, "quarantine", entries=entries, include_released=include_released)

    @pages.get("/datasets", response_class=HTMLResponse, dependencies=[can_read(DATASETS_DAG)])
    def datasets_page(request: Request, a: str | None = None, b: str | None = None) -> HTMLResponse:
        settings = get_settings()
        versions = services.datasets(settings)
        diff = services.dataset_diff(settings, a, b) if a and b else None
        return render_page(request, "datasets", versions=versions, diff=diff, a=a, b=b)

    @pages.get("/datasets/{version}", response_class=HTMLResponse, dependencies=[can_read(DATASETS_DAG)])
    def dataset_page(request: Request, version: str) -> HTMLResponse:
        return render_page(request, "dataset", dataset=services.dataset(get_settings(), version))

    @pages.get("/models", response_class=HTMLResponse, dependencies=[can_read(TRAINING_DAG)])
    def models_page(request: Request) -> HTMLResponse:
        return render_page(request, "models", models=services.models(get_settings()))

    @pages.get("/lineage", response_class=HTMLResponse, dependencies=[can_read(TRAINING_DAG)])
    def lineage_page(request: Request, id: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
        graph = services.lineage(get_settings(), id) if id else None
        return render_page(request, "lineage", subject=id, graph=graph)

    @pages.get("/search", response_class=HTMLResponse, dependencies=[can_read(FEATURES_DAG)])
    def search_page(
        request: Request,
        q: str | None = Query(None, max_length=MAX_QUERY_CHARS),
        author: str | None = None,
        category: str | None = None,
    ) -> HTMLResponse:
        hits = services.search(get_settings(), q, k=10, author=author, category=category) if q else []
        return render_page(request, "search", q=q or "", hits=hits, author=author or "", category=category or "")

    return pages


def build_docs(app: FastAPI) -> APIRouter:
    """The API's schema and its Swagger page, behind the same authentication as the pages."""
    docs = APIRouter(prefix=API_PREFIX, include_in_schema=False)

    @docs.get("/openapi.json", dependencies=[can_read(VALIDATION_DAG)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @docs.get("/docs", dependencies=[can_read(VALIDATION_DAG)])
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{API_PREFIX}/openapi.json", title=f"{app.title}: API")

    return docs


def _answer(status: int, retry_after: bool = False):
    def handle(request: Request, error: Exception) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if retry_after else None
        return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)

    return handle


def create_app() -> FastAPI:
    from pymongo.errors import ConnectionFailure

    app = FastAPI(
        title="ragdag: RAG platform",
        description="The platform's page in the Airflow UI: quarantine, datasets, models, lineage, search.",
        docs_url=None,  # served by build_docs, behind the pages' authentication
        redoc_url=None,
        openapi_url=None,
    )
    for error_type, status, retry_after in (
        (services.BadRequest, 400, False),
        (services.NotFound, 404, False),
        (services.Conflict, 409, False),
        (services.Unavailable, 503, True),
        (StoreUnavailable, 503, True),
        (ConnectionFailure, 503, True),  # MongoDB down or unreachable (server selection timed out)
    ):
        app.add_exception_handler(error_type, _answer(status, retry_after))

    app.mount("/static", StaticFiles(packages=[("ragdag.ui", "static")]), name="static")
    app.include_router(build_docs(app))
    app.include_router(build_api())
    app.include_router(build_pages())
    return app
