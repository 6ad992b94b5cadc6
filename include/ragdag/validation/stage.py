"""The validation stage: check every pending document, keep the good, quarantine the bad, gate.

Incremental: only pending documents are read (the crawler sets every new or changed document
pending; statuses and filters are :mod:`ragdag.documents`), and the validated ones an older
version of their suite passed: bumping a suite's ``meta.version`` judges them again. Each one
ends ``validated`` (with suite, suite version, run, time and the content hash it was checked at)
or ``quarantined`` in place, with a quarantine record of its failures. A document the crawler changes while it is being
checked is left pending and counted as skipped.

The gate judges the run's batch from the stored state, not from one attempt's counters: every
document records the run that judged it (``validation.run_id``), so the validated and quarantined
counts of a run id are read back from the collections once the loop is done. A retry after a crash
(MongoDB killed mid-batch, a worker lost) or after a failed gate therefore sees what the earlier
attempts judged and reaches the verdict an uninterrupted run reaches; a released document still
counts as quarantined by the run that held it. Skipped counts and report locations add up over the
attempts' ``runs`` records. The gate is applied last, after quarantining and writing the reports,
so the evidence is kept when it fails.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ragdag.documents import (
    DocumentStatus,
    ValidationState,
    accepted_filter,
    collection_name,
    due_for_validation_filter,
)
from ragdag.models import Category
from ragdag.observability.run_records import record_stage_report, stage_reports
from ragdag.settings import Settings
from ragdag.stages import Stage
from ragdag.stores.mongo import mongo_database
from ragdag.stores.object_store import ObjectStore, open_object_store, run_folder
from ragdag.validation.frame import documents_to_frame
from ragdag.validation.gate import GxSession, ValidationGateFailed, enforce_gate, failed_share
from ragdag.validation.quarantine import hold_in_quarantine, supersede_records
from ragdag.validation.reports import (
    batch_stamp,
    publish_data_docs,
    write_batch_report,
    write_summary,
)
from ragdag.validation.suites import SuiteDefinition, load_suites

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)

STAGE = Stage.VALIDATE
# Documents per GX run: bounds memory (repository documents carry whole files).
BATCH_SIZE = 500
WORST_SHOWN = 5


class CategoryCounts(BaseModel):
    validated: int = 0
    quarantined: int = 0
    skipped: int = 0


class ValidationReport(BaseModel):
    """What one run of the stage did (summed over the attempts of the same run id)."""

    run_id: str
    validated: int
    quarantined: int
    skipped: int
    per_category: dict[str, CategoryCounts]
    failed_share: float
    threshold: float
    gate_passed: bool
    worst_expectations: list[str]  # "<category>.<expectation name>", most failures first
    expectation_failures: dict[str, int]
    report_uris: list[str]


def _batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _validated_hash_owners(db: Database, category: Category, batch: list[dict[str, Any]]) -> dict[str, str]:
    """Content hash -> the accepted document that owns it. A validated document judged again
    owns its own hash: it is the original, whatever copy a person released since."""
    hashes = [doc["content_hash"] for doc in batch if isinstance(doc.get("content_hash"), str)]
    if not hashes:
        return {}
    cursor = db[collection_name(category)].find(
        {"content_hash": {"$in": hashes}, **accepted_filter()}, {"content_hash": 1}
    )
    owners = {doc["content_hash"]: str(doc["_id"]) for doc in cursor}
    accepted_in_batch = {str(doc["_id"]) for doc in batch} & set(owners.values())
    owners.update({doc["content_hash"]: str(doc["_id"]) for doc in batch if str(doc["_id"]) in accepted_in_batch})
    return owners


def _mark_validated(
    db: Database, category: Category, doc: dict[str, Any], suite: SuiteDefinition, run_id: str, at: datetime
) -> bool:
    # Guarded by hash and status: a version stored by the crawler meanwhile stays pending. A whole
    # replacement keeps validated_at a datetime on every server.
    validation = ValidationState(
        status=DocumentStatus.VALIDATED,
        suite=suite.name,
        suite_version=suite.version,
        run_id=run_id,
        validated_at=at,
        content_hash=doc.get("content_hash"),
    )
    result = db[collection_name(category)].replace_one(
        {"_id": doc["_id"], "content_hash": doc.get("content_hash"), **due_for_validation_filter(suite.version)},
        {**{k: v for k, v in doc.items() if k != "_id"}, "validation": validation.stored()},
    )
    return bool(result.matched_count)


class _Attempt:
    """Counts and report locations of this task attempt."""

    def __init__(self, started_at: datetime) -> None:
        self.started_at = started_at
        self.counts = {category.value: CategoryCounts() for category in Category}
        self.failures: dict[str, Counter[str]] = {category.value: Counter() for category in Category}
        self.sites: list[str] = []  # Data Docs index pages
        self.report_uris: list[str] = []  # per-batch result and outcome files


def _validate_batch(
    db: Database,
    store: ObjectStore,
    session: GxSession,
    *,
    category: Category,
    ids: list[Any],
    run_id: str,
    number: int,
    attempt: _Attempt,
) -> None:
    suite = session.suites[category]
    counts = attempt.counts[category.value]
    docs = list(db[collection_name(category)].find({"_id": {"$in": ids}, **due_for_validation_filter(suite.version)}))
    counts.skipped += len(ids) - len(docs)  # validated by a concurrent run meanwhile
    if not docs:
        return
    supersede_records(db, category, docs)
    now = datetime.now(UTC)
    frame = documents_to_frame(docs, now=now, validated_owners=_validated_hash_owners(db, category, docs))
    outcome = session.validate(category, frame, run_name=run_folder(run_id))
    validated: list[str] = []
    quarantined: dict[str, str] = {}
    skipped: list[str] = []
    for doc in docs:
        doc_id = str(doc["_id"])
        failures = outcome.failures.get(doc_id)
        if failures:
            qid = hold_in_quarantine(
                db,
                category=category,
                document=doc,
                failures=failures,
                suite=suite.name,
                suite_version=suite.version,
                run_id=run_id,
                at=now,
            )
            if qid is not None:
                quarantined[doc_id] = qid
                attempt.failures[category.value].update({f.name for f in failures})
            else:
                skipped.append(doc_id)
        elif _mark_validated(db, category, doc, suite, run_id, now):
            validated.append(doc_id)
        else:
            skipped.append(doc_id)
    counts.validated += len(validated)
    counts.quarantined += len(quarantined)
    counts.skipped += len(skipped)
    attempt.report_uris += write_batch_report(
        store,
        run_id=run_id,
        outcome=outcome,
        stamp=batch_stamp(attempt.started_at, number),
        validated=validated,
        quarantined=quarantined,
        skipped=skipped,
    )
    log.info(
        "%s batch %d: %d validated, %d quarantined, %d skipped",
        category.value,
        number,
        len(validated),
        len(quarantined),
        len(skipped),
    )


def _validate_category(
    db: Database, store: ObjectStore, session: GxSession, *, category: Category, run_id: str, attempt: _Attempt
) -> None:
    due = due_for_validation_filter(session.suites[category].version)
    ids = sorted(doc["_id"] for doc in db[collection_name(category)].find(due, {"_id": 1}))
    for number, chunk in enumerate(_batched(ids, BATCH_SIZE), start=1):
        _validate_batch(db, store, session, category=category, ids=chunk, run_id=run_id, number=number, attempt=attempt)
    site = publish_data_docs(store, run_id=run_id, category=category, site_dir=session.docs_dir(category))
    if site:
        attempt.sites.append(site)


def _attempt_record(run_id: str, attempt: _Attempt, suites: dict[Category, SuiteDefinition]) -> dict[str, Any]:
    return {
        "started_at": attempt.started_at,
        "finished_at": datetime.now(UTC),
        "suite_versions": {category.value: suite.version for category, suite in suites.items()},
        "counts": {name: counts.model_dump() for name, counts in attempt.counts.items()},
        "expectation_failures": {name: dict(counter) for name, counter in attempt.failures.items()},
        "report_uris": [*attempt.sites, *attempt.report_uris],
    }


# Judged by a run: held by it, whether a person released the document since or not.
_QUARANTINED_BY_RUN = (DocumentStatus.QUARANTINED, DocumentStatus.RELEASED)


def _judged_by_run(db: Database, run_id: str) -> tuple[dict[str, CategoryCounts], Counter[str]]:
    """Validated and quarantined documents of each category whose current judgement is this run's,
    and the expectations the quarantined ones failed ("<category>.<name>" -> documents)."""
    per_category = {category.value: CategoryCounts() for category in Category}
    failures: Counter[str] = Counter()
    for category in Category:
        counts = per_category[category.value]
        # The whole sub-document: nx-27017 answers a dotted projection with flat "a.b" keys.
        for doc in db[collection_name(category)].find({"validation.run_id": run_id}, {"validation": 1}):
            validation = doc.get("validation") or {}
            status = validation.get("status")
            if status == DocumentStatus.VALIDATED:
                counts.validated += 1
            elif status in _QUARANTINED_BY_RUN:
                counts.quarantined += 1
                failures.update(f"{category.value}.{name}" for name in validation.get("failed_expectations") or [])
    return per_category, failures


def _report(
    run_id: str,
    judged: tuple[dict[str, CategoryCounts], Counter[str]],
    records: list[dict[str, Any]],
    threshold: float,
) -> ValidationReport:
    """The run's report: what the store says it judged, the skips and reports of all its attempts."""
    per_category, failures = judged
    uris: list[str] = []
    for record in records:
        for name, counts in (record.get("counts") or {}).items():
            total = per_category.setdefault(name, CategoryCounts())
            total.skipped += int(counts.get("skipped", 0))
        uris += [uri for uri in record.get("report_uris") or [] if uri not in uris]
    validated = sum(c.validated for c in per_category.values())
    quarantined = sum(c.quarantined for c in per_category.values())
    share = failed_share(validated, quarantined)
    ranked = sorted(failures.items(), key=lambda item: (-item[1], item[0]))
    return ValidationReport(
        run_id=run_id,
        validated=validated,
        quarantined=quarantined,
        skipped=sum(c.skipped for c in per_category.values()),
        per_category=per_category,
        failed_share=share,
        threshold=threshold,
        gate_passed=share <= threshold,
        worst_expectations=[name for name, _ in ranked[:WORST_SHOWN]],
        expectation_failures=dict(ranked),
        report_uris=uris,
    )


def validate_pending_documents(settings: Settings, run_id: str) -> ValidationReport:
    """Validate every pending document; raise ValidationGateFailed when too many fail.

    Suites are loaded (and checked) before any document is touched.
    """
    suites = load_suites(settings)
    attempt = _Attempt(datetime.now(UTC))
    store = open_object_store(settings)
    with mongo_database(settings) as db, tempfile.TemporaryDirectory(prefix="ragdag-gx-docs-") as tmp:
        session = GxSession(suites, Path(tmp))
        try:
            for category in Category:
                _validate_category(db, store, session, category=category, run_id=run_id, attempt=attempt)
        except Exception as error:
            # Record what this attempt already did, so the retry's gate counts it too.
            failed = _attempt_record(run_id, attempt, suites)
            record_stage_report(db, STAGE, run_id, failed, settings=settings, error=f"{type(error).__name__}: {error}")
            raise
        record = _attempt_record(run_id, attempt, suites)
        # Read before this attempt's report is kept (inside a task, its record exists, still empty).
        earlier = stage_reports(db, STAGE, run_id)
        judged = _judged_by_run(db, run_id)
        report = _report(run_id, judged, [*earlier, record], settings.validation_max_failed_share)
        summary_uri = write_summary(store, run_id=run_id, summary=report.model_dump(mode="json"))
        report.report_uris.insert(0, summary_uri)
        record["report_uris"].insert(0, summary_uri)
        record["gate"] = {
            "failed_share": report.failed_share,
            "threshold": report.threshold,
            "passed": report.gate_passed,
        }
        record_stage_report(db, STAGE, run_id, record, settings=settings)
    log.info(
        "run %s: %d validated, %d quarantined, %d skipped, failed share %.1f%%",
        run_id,
        report.validated,
        report.quarantined,
        report.skipped,
        100 * report.failed_share,
    )
    docs = [uri for uri in report.report_uris if uri.endswith("/index.html")]
    try:
        enforce_gate(
            run_id=run_id,
            share=report.failed_share,
            threshold=report.threshold,
            worst=[(name, report.expectation_failures[name]) for name in report.worst_expectations],
            report_location=summary_uri + (f" (Data Docs: {', '.join(docs)})" if docs else ""),
        )
    except ValidationGateFailed as error:
        error.report = report
        raise
    return report
