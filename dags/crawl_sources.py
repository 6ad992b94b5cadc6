"""
### crawl_sources

Crawls each author's sources into **MongoDB** (collections `articles`, `posts`, `repositories`,
`authors`; permanent failures in `crawl_errors`).

- **Reads:** the links and posts sources in `include/sources.yaml` (scheduled runs) or, when
  triggered over the REST API, the run's `conf`: `{"author": "Jane Doe", "links": ["https://…"],
  "posts": [{"platform": "mastodon", "account": "@user@instance"}]}` (docs/sources.md; validated: an unknown
  key, a non-http(s) URL, a URL with credentials, a missing author, or more links, longer URLs or
  a longer author name than `RAGDAG_CRAWL_MAX_*` allow fail the first task).
- **Does:** one mapped task per host (named after it; a dead site does not stop the others), up to
  8 hosts at once; within a task the host's links are fetched one after the other, robots.txt
  once. Requests to a host, from whichever task, are spaced by `RAGDAG_PER_HOST_DELAY_S` or its
  robots.txt `Crawl-delay`, whichever is larger (turns per host in MongoDB `crawl_host_slots`).
  Each link is dispatched by URL:
  GitHub / GitLab / `*.git` repositories are shallow-cloned into `repositories`, RSS / Atom feeds
  and sitemaps have their new or changed articles crawled (conditional GET), any other page is
  an `articles` page (stored under its URL after redirects). Posts sources are read through the
  Mastodon and Bluesky APIs or from LinkedIn / X export archives into `posts`, from where the
  last crawl stopped (`post_cursors`); a single post's page is refused. A
  transient error (timeout, 429, 5xx) stops the host's task, which retries with exponential
  backoff; permanent ones (404, robots.txt, not HTML, binary, too large) are recorded in
  `crawl_errors` with the run id. A bad conf fails `plan_targets` at once, naming the field.
- **Emits:** `raw_documents` with counts of new / updated / unchanged / failed documents. The run
  fails when more than `RAGDAG_MAX_FAILED_SOURCE_SHARE` of the sources failed.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import RAW_DOCUMENTS
from ragdag.dag_wiring import DAG_KWARGS, TAGS, is_last_attempt, run_id_of
from ragdag.settings import get_settings


@dag(schedule=get_settings().crawl_schedule or None, tags=[*TAGS, "crawl"], doc_md=__doc__, **DAG_KWARGS)
def crawl_sources() -> None:
    @task
    def plan_targets(**context) -> list[dict]:
        """The run's links, one group per host."""
        from ragdag.crawling.sources.crawl_plan import ConfLimits, group_by_host
        from ragdag.crawling.sources.crawl_plan import plan_targets as plan

        settings = get_settings()
        # file:// links (local git repositories) only where loopback crawling is allowed. A bad conf
        # is a PermanentError (InvalidCrawlConf): the task fails at once.
        targets = plan(
            context["dag_run"].conf,
            settings.sources_file,
            allow_file_links=settings.allow_private_networks,
            limits=ConfLimits.from_settings(settings),
        )
        return [group.model_dump() for group in group_by_host(targets)]

    @task(retries=3, max_active_tis_per_dag=8, map_index_template="{{ crawl_host }}")
    def crawl(group: dict, **context) -> dict:
        from airflow.sdk import get_current_context

        from ragdag.crawling.service import crawl_host

        get_current_context()["crawl_host"] = group["host"]  # the mapped task's name in the UI
        return crawl_host(get_settings(), group, run_id_of(context), last_attempt=is_last_attempt(context))

    # Runs when some crawls failed (to count them), not when planning failed (nothing to count).
    @task(outlets=[RAW_DOCUMENTS], trigger_rule="all_done_min_one_success")
    def summarize(groups: list[dict], reports: list[dict], **context):
        from ragdag.crawling.crawl_report import TooManyFailedSources
        from ragdag.crawling.service import summarize_crawl
        from ragdag.observability.monitoring import check_crawl

        try:
            summary = summarize_crawl(get_settings(), groups, list(reports), run_id_of(context))
        except TooManyFailedSources as error:
            check_crawl(get_settings(), context, error=str(error))  # one alert for the breach
            raise  # the sources, not this task, need fixing (a PermanentError)
        yield Metadata(RAW_DOCUMENTS, summary)  # the event carries the run id (source_run_id)

    groups = plan_targets()
    summarize(groups, crawl.expand(group=groups))


crawl_sources()
