"""The Amazon provider's ``SageMakerTrainingOperator`` with errors a person can act on.

Deferrable as the provider ships it: ``execute`` creates the job and defers to ``SageMakerTrigger``
(the worker slot is free while the job runs); the triggerer's event comes back to
``execute_complete``. Added here, and nothing else:

- ``ResourceLimitExceeded`` (the account's quota for the instance type is too low — 0 on a new
  account for GPU instances) fails the task without retries, naming the quota and how to ask for
  an increase;
- other client errors are transient (throttling, 5xx: raised, so Airflow retries) or permanent
  (validation, access: failed without retries);
- a job that failed or stopped in SageMaker fails the task without retries (a new attempt needs a
  new run), and the registry records it as failed with SageMaker's reason.

Light to import (the DAG file builds it at parse time): the registry is imported only on failure.
"""

from __future__ import annotations

import re
from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore.exceptions import ClientError

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
QUOTA_CODE = "ResourceLimitExceeded"


def classify_client_error(error: ClientError, instance_type: str) -> tuple[bool, str]:
    """(transient, message) for a SageMaker API error."""
    info = error.response.get("Error", {})
    code, text = info.get("Code", "Unknown"), info.get("Message", str(error))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == QUOTA_CODE:
        named = re.search(r"limit '([^']+)'", text)
        quota = named.group(1) if named else f"{instance_type} for training job usage"
        return False, (
            f"SageMaker refused the training job: ResourceLimitExceeded — the account's quota "
            f"'{quota}' is too low for one more instance ({text}). Request an increase in the AWS console "
            f"(Service Quotas → AWS services → Amazon SageMaker → '{quota}' → Request increase at account level), "
            f"or with `aws service-quotas request-service-quota-increase --service-code sagemaker --quota-code "
            f"<code of '{quota}'> --desired-value 1`; or set RAGDAG_SAGEMAKER_INSTANCE_TYPE to an instance type "
            f"the account has quota for. Not retried: the quota will not change by itself."
        )
    if code in TRANSIENT_CODES or status >= 500:
        return True, f"SageMaker API error {code} (transient, retried): {text}"
    return False, f"SageMaker API error {code} (permanent, not retried): {text}"


class TrainingJobOperator(SageMakerTrainingOperator):
    """``SageMakerTrainingOperator`` that classifies failures and records them in the registry."""

    def _fail(self, context: Any, message: str, *, permanent: bool) -> None:
        from ragdag.dag_wiring import is_last_attempt

        if permanent or is_last_attempt(context):
            from ragdag.settings import get_settings
            from ragdag.training.service import mark_failed

            mark_failed(get_settings(), str(self.config.get("TrainingJobName", "")), message)
        if permanent:
            raise AirflowFailException(message)

    def execute(self, context: Any) -> dict:
        try:
            return super().execute(context)
        except ClientError as error:
            transient, message = classify_client_error(
                error, self.config.get("ResourceConfig", {}).get("InstanceType", "")
            )
            self._fail(context, message, permanent=not transient)
            raise
        except AirflowException as error:  # the job was already over when first described
            self._fail(context, f"SageMaker training job failed: {error}", permanent=True)
            raise

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, dict]:
        """``event`` is SageMakerTrigger's: {"status": "success" | "failed" | "stopped" | "timeout" |
        "error", "job_name": …, "message": …}."""
        status = (event or {}).get("status")
        if status != "success":
            job = (event or {}).get("job_name") or self.config.get("TrainingJobName")
            message = (
                f"SageMaker training job {job} ended {status or 'without an event'}: {(event or {}).get('message', '')}"
            )
            # A timeout leaves the job running in SageMaker: a retry would start a duplicate.
            self._fail(context, message, permanent=True)
        return super().execute_complete(context, event)
