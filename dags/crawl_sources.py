"""
### crawl_sources

Crawls each author's sources into **MongoDB** (collections `articles`, `posts`, `repositories`,
`authors`; permanent failures in `crawl_errors`).

- **Reads:** the links in `include/sources.yaml` (scheduled runs) or, when triggered over the REST
  API, the run's `conf`: `{"author": "Jane Doe", "links": ["https://…"]}` (validated: an unknown
  key, a non-http(s) URL, a URL with credentials or a missing author fail the first task).
- **Does:** one mapped task per link (a dead site does not stop the others); transient errors
  (timeouts, 429, 5xx) retry with exponential backoff, permanent ones (404, robots.txt, not HTML,
  too large) are recorded in `crawl_errors`.
- **Emits:** `raw_documents` with counts of new / updated / unchanged / failed documents. The run
  fails when more than `RAGDAG_MAX_FAILED_SOURCE_SHARE` of the sources failed.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import RAW_DOCUMENTS
from ragdag.dag_wiring import DAG_KWARGS, TAGS, is_last_attempt, run_id_of
from ragdag.settings import get_settings


@dag(schedule=get_settings().crawl_schedule, tags=[*TAGS, "crawl"], doc_md=__doc__, **DAG_KWARGS)
def crawl_sources() -> None:
    @task
    def plan_targets(**context) -> list[dict]:
        from ragdag.crawling.crawl_plan import plan_targets as plan

        targets = plan(context["dag_run"].conf, get_settings().sources_file)
        return [t.model_dump() for t in targets]

    @task(retries=3, max_active_tis_per_dag=8)
    def crawl(target: dict, **context) -> dict:
        from ragdag.crawling.service import crawl_one

        return crawl_one(get_settings(), target, run_id_of(context), last_attempt=is_last_attempt(context))

    @task(outlets=[RAW_DOCUMENTS], trigger_rule="all_done")
    def summarize(targets: list[dict], reports: list[dict]):
        from ragdag.crawling.service import summarize_crawl

        yield Metadata(RAW_DOCUMENTS, summarize_crawl(get_settings(), targets, list(reports)))

    targets = plan_targets()
    summarize(targets, crawl.expand(target=targets))


crawl_sources()
