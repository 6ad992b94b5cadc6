"""One base type for "a retry cannot fix this" (issue 22; issue 25 item 3): every such error derives
from ragdag.errors.PermanentError, and every task of every DAG fails on it at once (Airflow's
retry policy in the shared DEFAULT_ARGS), without a list of error types per DAG."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.crawling.crawl_report import TooManyFailedSources
from ragdag.crawling.fetching.fetcher import PermanentFetchError, TransientFetchError
from ragdag.crawling.fetching.url_safety import UnsafeUrlError
from ragdag.crawling.sources.crawl_plan import InvalidCrawlConf
from ragdag.dag_wiring import NO_RETRY_ON_PERMANENT
from ragdag.datasets.publish import InvalidBuildConf, NoDatasetVersion, NoEmbeddedChunks
from ragdag.datasets.quality import DatasetQualityFailed
from ragdag.errors import PermanentError
from ragdag.llm_client import LlmConfigError, LlmRequestFailed
from ragdag.stores.qdrant import QdrantUnavailable
from ragdag.training.base_models import BaseModelNotAllowed
from ragdag.training.job import InvalidTrainConf
from ragdag.training.local_backend import TrainingProcessFailed
from ragdag.training.registry import RegistryError
from ragdag.training.sagemaker_backend import SageMakerConfigError
from ragdag.validation.gate import ValidationGateFailed, ValidationRunError
from ragdag.validation.quarantine import QuarantineError
from ragdag.validation.suites import SuiteError

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
PERMANENT = (
    InvalidCrawlConf,
    TooManyFailedSources,
    PermanentFetchError,
    UnsafeUrlError,
    SuiteError,
    ValidationRunError,
    ValidationGateFailed,
    QuarantineError,
    InvalidBuildConf,
    NoEmbeddedChunks,
    NoDatasetVersion,
    DatasetQualityFailed,
    LlmConfigError,
    InvalidTrainConf,
    BaseModelNotAllowed,
    TrainingProcessFailed,
    SageMakerConfigError,
    RegistryError,
)
TRANSIENT = (TransientFetchError, LlmRequestFailed, QdrantUnavailable, ConnectionError, TimeoutError)


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: e.__name__)
def test_an_error_a_retry_cannot_fix_is_permanent_and_fails_at_once(error) -> None:
    assert issubclass(error, PermanentError)
    decision = NO_RETRY_ON_PERMANENT.evaluate(error.__new__(error), try_number=1, max_tries=3)
    assert decision.action.value == "fail"


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: e.__name__)
def test_a_transient_error_is_retried(error) -> None:
    assert not issubclass(error, PermanentError)
    assert NO_RETRY_ON_PERMANENT.evaluate(error.__new__(error), try_number=1, max_tries=3).action.value == "default"


def test_every_task_of_every_dag_fails_at_once_on_a_permanent_error() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {} and bag.dags
    without = [
        f"{dag_id}.{task.task_id}"
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
        if task.retry_policy is not NO_RETRY_ON_PERMANENT
    ]
    assert without == []


def test_no_embedded_chunks_is_a_typed_permanent_error(settings) -> None:
    from ragdag.datasets.publish import publish_instruct_dataset

    with pytest.raises(NoEmbeddedChunks, match="run embed_documents first"):
        publish_instruct_dataset(settings, "run-1")


def test_no_dataset_version_is_a_typed_permanent_error(settings, mongo_db) -> None:
    from ragdag.training.service import prepare_training

    with pytest.raises(NoDatasetVersion, match="build_instruct_dataset first"):
        prepare_training(settings, "run-1", None)
