"""Run the suites with Great Expectations and decide per document, then for the batch.

One ephemeral GX context serves a whole stage run (GX is slow to import and set up, so it is
built once and lazily). Each category has its own Data Docs site in a local folder that
:mod:`ragdag.validation.reports` copies to the object store. Row-level outcomes come from
``result_format=COMPLETE`` with ``unexpected_index_column_names=["document_id"]``: each failed
expectation lists exactly the documents that broke it.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.errors import PermanentError
from ragdag.models import Category
from ragdag.validation.frame import INDEX_COLUMN
from ragdag.validation.suites import SuiteDefinition, build_gx_suite

if TYPE_CHECKING:
    import pandas as pd

# Kwargs worth keeping with a failure: what the document was held to.
_THRESHOLD_KWARGS = ("min_value", "max_value", "regex", "value_set", "type_", "type_list")
_OBSERVED_MAX_CHARS = 200


class ValidationRunError(PermanentError, RuntimeError):
    """GX could not evaluate an expectation: a suite or frame problem, not a document problem."""


class ValidationGateFailed(PermanentError, RuntimeError):
    """Too large a share of the batch failed validation; the evidence is already stored."""

    report: Any = None  # the stage's ValidationReport, attached by the stage before re-raising


class FailedExpectation(BaseModel):
    name: str
    type: str
    column: str | None = None
    kwargs: dict[str, Any] = {}
    observed: Any = None


@dataclass
class BatchOutcome:
    category: Category
    suite: str
    suite_version: int
    document_ids: list[str]
    failures: dict[str, list[FailedExpectation]]
    result: dict[str, Any] = field(repr=False)


def _json_safe(value: Any) -> Any:
    """The offending value, small and storable (GX hands back numpy scalars)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _OBSERVED_MAX_CHARS else text[:_OBSERVED_MAX_CHARS] + "…"


def _raised(exception_info: Any) -> str | None:
    """GX reports either one exception dict or one per metric; return the first message."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error")
    return None


class GxSession:
    """An ephemeral GX context with every category's suite, validation definition and checkpoint."""

    def __init__(self, suites: Mapping[Category, SuiteDefinition], docs_root: Path) -> None:
        self.suites = dict(suites)
        self.docs_root = docs_root
        self._checkpoints: dict[Category, Any] = {}
        self._context: Any = None

    def docs_dir(self, category: Category) -> Path:
        return self.docs_root / category.value

    def _build(self) -> None:
        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction

        sites = {
            category.value: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,  # GX tutorial links mean nothing to report readers
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(self.docs_dir(category)),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
            for category in self.suites
        }
        context = gx_context(data_docs_sites=sites)
        source = context.data_sources.add_pandas("ragdag_documents")
        for category, definition in self.suites.items():
            batch = source.add_dataframe_asset(category.value).add_batch_definition_whole_dataframe("pending")
            suite = context.suites.add(build_gx_suite(definition))
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"validate_{category.value}", data=batch, suite=suite)
            )
            self._checkpoints[category] = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"ragdag_{category.value}",
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name="data_docs", site_names=[category.value])],
                    result_format={
                        "result_format": "COMPLETE",
                        "unexpected_index_column_names": [INDEX_COLUMN],
                        "return_unexpected_index_query": False,
                    },
                )
            )
        self._context = context

    def validate(self, category: Category, frame: pd.DataFrame, run_name: str) -> BatchOutcome:
        """Validate one batch of one category; Data Docs are updated as a side effect.

        ``run_name`` becomes a folder of the Data Docs site: keep it free of ':' and '+'.
        """
        from great_expectations.core.run_identifier import RunIdentifier

        if self._context is None:
            self._build()
        definition = self.suites[category]
        result = self._checkpoints[category].run(
            batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name)
        )
        (suite_result,) = result.run_results.values()
        failures: dict[str, list[FailedExpectation]] = {}
        for expectation_result in suite_result.results:
            config = expectation_result.expectation_config
            name = (config.meta or {}).get("name", config.type)
            error = _raised(expectation_result.exception_info)
            if error is not None:
                raise ValidationRunError(
                    f"{definition.path}: expectation {name} ({config.type}) could not be evaluated: "
                    f"{error.rstrip('.')}. Fix the suite, or the derived column in ragdag.validation.frame."
                )
            if expectation_result.success:
                continue
            rows = expectation_result.result.get("unexpected_index_list") or []
            if not rows:
                raise ValidationRunError(
                    f"{definition.path}: expectation {name} failed without naming documents; "
                    "only row-level expectations can be used"
                )
            column = config.kwargs.get("column")
            kwargs = {k: v for k, v in config.kwargs.items() if k in _THRESHOLD_KWARGS}
            for row in rows:
                failures.setdefault(str(row[INDEX_COLUMN]), []).append(
                    FailedExpectation(
                        name=name,
                        type=config.type,
                        column=column,
                        kwargs=kwargs,
                        observed=_json_safe(row.get(column)) if column else None,
                    )
                )
        return BatchOutcome(
            category=category,
            suite=definition.name,
            suite_version=definition.version,
            document_ids=[str(doc_id) for doc_id in frame[INDEX_COLUMN]],
            failures=failures,
            result=suite_result.to_json_dict(),
        )


def gx_context(*, data_docs_sites: dict[str, Any] | None = None) -> Any:
    """An ephemeral Great Expectations context, the one way the project makes one (the document
    gate, the dataset quality suite): stores in memory, no analytics, no progress bars."""
    # GX logs hundreds of INFO lines while importing; they would bury the task log.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=data_docs_sites,
        # No phoning home from a pipeline worker; no progress bars in task logs.
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def failed_share(validated: int, quarantined: int) -> float:
    total = validated + quarantined
    return quarantined / total if total else 0.0


def enforce_gate(
    *, run_id: str, share: float, threshold: float, worst: list[tuple[str, int]], report_location: str
) -> None:
    """Raise :class:`ValidationGateFailed` when ``share`` exceeds ``threshold``."""
    if share <= threshold:
        return
    worst_text = (
        ", ".join(f"{name} ({count} doc{'s' if count != 1 else ''})" for name, count in worst) or "none recorded"
    )
    raise ValidationGateFailed(
        f"validation gate failed for run {run_id}: {share:.0%} of the documents failed validation, "
        f"above the threshold of {threshold:.0%} (RAGDAG_VALIDATION_MAX_FAILED_SHARE). "
        f"Worst expectations: {worst_text}. The failing documents are quarantined "
        f"(`ragdag quarantine list`, release with `ragdag quarantine release ID --reason WHY`); "
        f"report: {report_location}"
    )
