"""
### validate_documents

The data-quality gate between crawling and features, with **Great Expectations** suites kept as
reviewed JSON files in `expectations/` (one per category).

- **Scheduled on:** `raw_documents` (no cron).
- **Reads:** documents in MongoDB whose validation is pending (new or changed since the last run).
- **Writes:** each document is marked `validated` (suite, suite version, run id) or
  `quarantined` in place, with a record of its failed expectations in the `quarantine` collection
  (one per document version: re-crawled unchanged it stays quarantined, changed it is pending
  again); the run's result JSON and Data Docs HTML go to the object store under
  `validation/<run_id>/`.
- **Emits:** `validated_documents` with counts — only when the share of failing documents is at
  most `RAGDAG_VALIDATION_MAX_FAILED_SHARE`; above it the task fails and names the worst
  expectations.
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import RAW_DOCUMENTS, VALIDATED_DOCUMENTS
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of
from ragdag.settings import get_settings


@dag(schedule=[RAW_DOCUMENTS], tags=[*TAGS, "validate"], doc_md=__doc__, **DAG_KWARGS)
def validate_documents() -> None:
    @task(outlets=[VALIDATED_DOCUMENTS])
    def validate(**context):
        from ragdag.observability.monitoring import check_validation
        from ragdag.validation import ValidationGateFailed, validate_pending_documents

        try:
            report = validate_pending_documents(get_settings(), run_id_of(context))
        except ValidationGateFailed as failed:
            check_validation(get_settings(), context, getattr(failed, "report", None))  # one alert
            raise  # a verdict on the data (a PermanentError): the task fails at once
        yield Metadata(VALIDATED_DOCUMENTS, report.model_dump(mode="json"))

    validate()


validate_documents()
