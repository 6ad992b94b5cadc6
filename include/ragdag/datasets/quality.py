"""The quality gate of a dataset version: the GX suite ``expectations/instruct_samples.json``.

The suite is loaded by the validation stage's loader (same house rules, same ``$PARAMETER``
placeholders; batch-level expectations allowed) and run with GX core in an ephemeral context on a
frame of every SFT sample of the version (train and test, one row each, with derived columns).
A version whose samples fail any expectation is not published: the caller raises
:class:`DatasetQualityFailed` after the report is saved, like the document validation's, under
``validation/<run>/instruct_samples/`` (the GX result, loadable by GX, and ``summary-<stamp>.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.datasets.filters import PROSE, count_tokens
from ragdag.datasets.records import SftSample
from ragdag.errors import PermanentError
from ragdag.settings import Settings
from ragdag.stores.object_store import ObjectStore, run_folder
from ragdag.validation.reports import ROOT
from ragdag.validation.suites import BATCH_SUITES, load_suite_config, suite_parameters

if TYPE_CHECKING:
    import pandas as pd

SUITE_NAME = BATCH_SUITES[0]
FRAME_COLUMNS = (
    "instruction",
    "output",
    "document_id",
    "category",
    "split",
    "output_tokens",
    "language_code",
)


class DatasetQualityFailed(PermanentError, RuntimeError):
    """The samples of a new version failed the suite; nothing was published."""

    report: QualityReport | None = None


class ExpectationOutcome(BaseModel):
    name: str
    type: str
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    hint: str | None = None  # what to change when it fails (the expectation's meta.hint)


class QualityReport(BaseModel):
    suite: str
    suite_version: int
    run_id: str
    rows: int
    success: bool
    failed: list[str]
    expectations: list[ExpectationOutcome]
    report_uri: str | None = None


def sample_suite_parameters(settings: Settings) -> dict[str, Any]:
    """The values the samples' suite may reference with ``{"$PARAMETER": NAME}``."""
    return {
        **suite_parameters(settings),
        "min_answer_tokens": settings.dataset_min_answer_tokens,
        "max_answer_tokens": settings.dataset_max_answer_tokens,
        "min_distinct_instruction_share": settings.dataset_min_distinct_instruction_share,
        "min_test_samples": settings.dataset_min_test_samples,
    }


def load_sample_suite(settings: Settings) -> tuple[dict[str, Any], int]:
    path = settings.expectations_dir / f"{SUITE_NAME}.json"
    return load_suite_config(path, sample_suite_parameters(settings), row_level=False)


def samples_frame(
    train: Sequence[SftSample], test: Sequence[SftSample], detect_language: Callable[[str], str | None]
) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for split, samples in (("train", train), ("test", test)):
        for sample in samples:
            rows.append(
                {
                    "instruction": sample.instruction,
                    "output": sample.output,
                    "document_id": sample.document_id,
                    "category": sample.category.value,
                    "split": split,
                    "output_tokens": count_tokens(sample.output),
                    "language_code": detect_language(sample.output) if sample.category in PROSE else None,
                }
            )
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS), dtype=object)
    frame["output_tokens"] = pd.to_numeric(frame["output_tokens"]).astype("float64")
    return frame


def run_suite(config: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Validate ``frame`` against the suite ``config``; the GX result as a JSON dict."""
    import great_expectations as gx

    from ragdag.validation.gate import gx_context

    context = gx_context()
    batch = (
        context.data_sources.add_pandas("ragdag_instruct_samples")
        .add_dataframe_asset(SUITE_NAME)
        .add_batch_definition_whole_dataframe("version")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=SUITE_NAME,
            expectations=config["expectations"],
            meta=config.get("meta"),
            notes=config.get("notes"),
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"validate_{SUITE_NAME}", data=batch, suite=suite)
    )
    return validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY").to_json_dict()


def check_samples(
    settings: Settings,
    train: Sequence[SftSample],
    test: Sequence[SftSample],
    run_id: str,
    detect_language: Callable[[str], str | None],
) -> tuple[QualityReport, dict[str, Any]]:
    """Run the suite on a version's samples: (report, GX result)."""
    config, version = load_sample_suite(settings)
    result = run_suite(config, samples_frame(train, test, detect_language))
    outcomes = []
    for item in result["results"]:
        expectation = item["expectation_config"]
        details = item.get("result") or {}
        outcomes.append(
            ExpectationOutcome(
                name=(expectation.get("meta") or {}).get("name", expectation["type"]),
                type=expectation["type"],
                success=bool(item["success"]),
                observed=json.loads(json.dumps(details.get("observed_value"), default=str)),
                unexpected_count=details.get("unexpected_count"),
                hint=(expectation.get("meta") or {}).get("hint"),
            )
        )
    failed = [o.name for o in outcomes if not o.success]
    report = QualityReport(
        suite=SUITE_NAME,
        suite_version=version,
        run_id=run_id,
        rows=len(train) + len(test),
        success=not failed and bool(result["success"]),
        failed=failed,
        expectations=outcomes,
    )
    return report, result


def save_quality_report(store: ObjectStore, report: QualityReport, gx_result: dict[str, Any]) -> QualityReport:
    """Store the GX result and the summary beside the document validation's reports."""
    prefix = f"{ROOT}/{run_folder(report.run_id)}/{SUITE_NAME}"
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    store.put_bytes(f"{prefix}/gx-result-{stamp}.json", json.dumps(gx_result, indent=2, default=str).encode())
    uri = store.uri(f"{prefix}/summary-{stamp}.json")
    saved = report.model_copy(update={"report_uri": uri})
    store.put_bytes(f"{prefix}/summary-{stamp}.json", saved.model_dump_json(indent=2).encode())
    return saved


def failure_message(report: QualityReport) -> str:
    worst = ", ".join(
        (f"{o.name} (observed {o.observed})" if o.observed is not None else f"{o.name} ({o.unexpected_count} samples)")
        + (f": {o.hint}" if o.hint else "")
        for o in report.expectations
        if not o.success
    )
    return (
        f"instruct dataset quality gate failed for run {report.run_id}: {worst}. Nothing was published; "
        f"report: {report.report_uri}. Change the generator or filter settings (RAGDAG_DATASET_*), or the "
        f"suite expectations/{SUITE_NAME}.json (bump meta.version)"
    )
