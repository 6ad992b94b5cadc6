"""``ragdag docs build``: the dataset card, the model card and the system record, from the records.

Nothing here is written by hand: every value comes from the latest dataset manifest, the model
registry, the run records, the audit trail and the settings, so the documents are as current as
the last run. The system record follows the headings of the EU AI Act's technical documentation
(Annex IV: general description and purpose; development, data sources and data governance;
quality checks; evaluation; monitoring and record keeping; limits; versions); whether the system
is high-risk is the deployer's call, the structure is there either way.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ragdag.settings import Settings

PURPOSE = (
    "ragdag collects an author's public writing (web articles, feeds, posts, code repositories), checks it, "
    "turns it into a retrieval index (embedded chunks) and into instruction datasets, and fine-tunes a "
    'language model on them: an "LLM twin" that writes in the author\'s voice and answers from their '
    "material. It is a batch data platform; it serves no predictions by itself."
)
LIMITS = [
    "Only public sources named by the operator are crawled; robots.txt is obeyed; the data is the "
    "author's own writing, so the model reproduces their views, errors and gaps.",
    "Languages outside RAGDAG_ALLOWED_LANGUAGES are quarantined, not translated: the model knows nothing of them.",
    "The offline instruction generator derives questions from the documents' own structure; answers "
    "are extracts of the sources, not verified facts.",
    "Training runs few steps on CPU by default (RAGDAG_TRAINING_STEPS): metrics show the pipeline "
    "works, not that the model is fit for a purpose. Evaluate before any use that affects people.",
    "Drift is measured on embeddings and text statistics of chunks against the last trained dataset; "
    "a change of meaning within the same language and topic can go unflagged.",
]


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def _table(rows: dict[str, Any]) -> str:
    lines = ["| field | value |", "|---|---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows.items()]
    return "\n".join(lines)


def _latest_manifest(settings: Settings) -> Any | None:
    from ragdag.datasets.publish import latest_dataset_version, load_manifest

    try:
        return load_manifest(settings, latest_dataset_version(settings))
    except Exception:  # noqa: BLE001 - nothing published yet
        return None


def _sources(manifest: Any) -> dict[str, Any]:
    documents = getattr(manifest, "documents", None) or {}
    hosts = Counter(urlsplit(d.url).netloc or urlsplit(d.url).scheme for d in documents.values() if d.url)
    categories = Counter(d.category for d in documents.values() if d.category)
    suites = Counter(str(d.validation_suite_version) for d in documents.values())
    return {"hosts": dict(hosts.most_common()), "categories": dict(categories), "suite_versions": dict(suites)}


def dataset_card(settings: Settings, manifest: Any | None, drift: dict[str, Any] | None) -> str:
    if manifest is None:
        return "# Dataset card\n\nNo instruct dataset version is published yet (run build_instruct_dataset).\n"
    sources = _sources(manifest)
    quality = getattr(manifest, "quality", None)
    lines = [
        f"# Dataset card: instruct dataset {manifest.version}",
        "",
        _table(
            {
                "version": manifest.version,
                "created": manifest.created_at,
                "built by run": manifest.built_by_run_id,
                "train samples": manifest.train_samples,
                "test samples": manifest.test_samples,
                "preference pairs (train / test)": f"{getattr(manifest, 'preference_train_samples', 0)} / "
                f"{getattr(manifest, 'preference_test_samples', 0)}",
                "test share / seed": f"{manifest.test_share} / {manifest.seed}",
                "source documents": len(manifest.source_documents),
                "embedding models": ", ".join(manifest.embedding_models),
                "code version": manifest.code_version,
                "manifest": manifest.manifest_uri,
            }
        ),
        "",
        "## Data sources",
        f"Documents per category: {sources['categories'] or 'not recorded'}. Hosts: {sources['hosts'] or 'not recorded'}.",
        "Each document is named by id and content hash in the manifest's `source_documents`; "
        "`ragdag lineage " + manifest.version + "` follows them to their URLs and runs.",
        "",
        "## Data governance and quality checks",
        f"Validation suite versions of the documents: {sources['suite_versions'] or 'not recorded'}; "
        f"validation runs: {', '.join(getattr(manifest, 'validation_run_ids', []) or []) or 'not recorded'}.",
        f"Sample filters: {_json([f.model_dump() for f in getattr(manifest, 'filters', [])]) if getattr(manifest, 'filters', None) else 'none recorded'}",
        f"Decontamination: {_json(getattr(manifest, 'decontamination', {}) or {})}",
        f"Quality gate: {_json(quality.model_dump(mode='json')) if quality is not None else 'not recorded'}",
        "",
        "## Drift at build time",
        _drift_text(getattr(manifest, "drift", None) or drift),
        "",
    ]
    return "\n".join(lines)


def _drift_text(drift: dict[str, Any] | None) -> str:
    if not drift:
        return "Not measured (no reference embed run yet)."
    test = drift["embeddings"]
    return (
        f"MMD² {test['statistic']:.4g}, p = {test['p_value']:.3g} ({test['reference_size']} reference vs "
        f"{test['current_size']} current chunks, {test['permutations']} permutations) against "
        f"{drift['reference_kind']} {drift['reference_run_id']}: {'DRIFT' if drift['drifted'] else 'no drift'} "
        f"at alpha {drift['alpha']}; vocabulary overlap {drift['vocabulary_overlap']}; languages now "
        f"{drift['current_text']['languages']}."
    )


def model_card(model: Any | None, manifest: Any | None) -> str:
    if model is None:
        return "# Model card\n\nNo model is registered yet (run train_model).\n"
    lines = [
        f"# Model card: {model.model_id}",
        "",
        _table(
            {
                "model id": model.model_id,
                "trained": model.created_at,
                "trained by run": model.trained_by_run_id,
                "backend": model.backend,
                "dataset version": model.dataset_version,
                "dataset manifest": model.dataset_manifest_uri,
                "artifact": model.artifact_uri,
            }
        ),
        "",
        "## Training",
        f"Hyperparameters: {_json(model.hyperparameters)}",
        "",
        "## Evaluation",
        f"Metrics on the dataset's test split: {_json(model.metrics)}",
        "",
        "## Intended use and limits",
        PURPOSE,
        "",
        *[f"- {limit}" for limit in LIMITS],
        "",
        "## Lineage",
        f"`ragdag lineage {model.model_id}` lists the dataset version, its documents (content hashes, "
        "validation suites, crawl / validate / embed runs) and their URLs.",
        "",
    ]
    return "\n".join(lines)


def system_record(settings: Settings, db: Any, manifest: Any | None, model: Any | None) -> str:
    from ragdag.assets import CHAIN
    from ragdag.observability.notifications import ALERTS
    from ragdag.observability.run_records import code_version, list_runs, settings_hash
    from ragdag.stores.mongo import AUDIT_TRAIL, RUNS

    runs = list_runs(db, limit=1000)
    status = Counter((r.stage, r.status.value) for r in runs)
    code = code_version()
    lines = [
        "# System record (technical documentation)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `ragdag docs build` from the platform's records.",
        "",
        "## 1. General description and intended purpose",
        PURPOSE,
        "",
        _table(
            {
                "code version": code.git_sha or code.package_version,
                "package": f"{code.package_version} (files {code.package_hash})",
                "settings hash": settings_hash(settings),
                "latest dataset version": manifest.version if manifest else "none",
                "latest model": model.model_id if model else "none",
            }
        ),
        "",
        "## 2. Development: the chain, data sources and data governance",
        "Five Airflow DAGs, each started by the Asset the previous one emits: "
        + " → ".join(a.name for a in CHAIN)
        + ". See docs/architecture.md.",
        "Sources: the links in the sources file or the REST conf of a crawl run (public pages, feeds, "
        "repositories of one author); robots.txt, rate limits and size limits apply.",
        "Governance: every document is checked by its category's Great Expectations suite (reviewed JSON "
        "in expectations/); failures go to the quarantine and are released only by a person, with the "
        "release in the audit trail.",
        (
            f"Latest dataset: {len(manifest.source_documents)} documents, sources {_sources(manifest)}."
            if manifest
            else "No dataset yet."
        ),
        "",
        "## 3. Quality checks",
        f"Validation gate: at most {settings.validation_max_failed_share:.0%} of a batch may fail "
        f"(RAGDAG_VALIDATION_MAX_FAILED_SHARE); crawl: at most {settings.max_failed_source_share:.0%} failed "
        f"sources; retrieval hit rate at least {settings.retrieval_min_hit_rate:.0%}; dataset quality gate "
        "in the manifest.",
        "",
        "## 4. Evaluation",
        f"Model metrics: {_json(model.metrics) if model else 'no model yet'}",
        "",
        "## 5. Monitoring and record keeping",
        f"Every task attempt writes a run record (`{RUNS}`: trigger, conf, code and settings versions, counts, "
        f"Asset events, status, error). Records now: {dict(sorted(Counter(r.stage for r in runs).items()))}; "
        f"by status: {_json({f'{s}/{st}': n for (s, st), n in sorted(status.items())})}.",
        f"Alerts (failed runs and threshold breaches, once each): {db[ALERTS].count_documents({})} breaches "
        "recorded; channels: local file, webhook, Slack, mail (docs/operations.md).",
        f"Drift: {_drift_text(getattr(manifest, 'drift', None) if manifest else None)}",
        f"Audit trail (`{AUDIT_TRAIL}`, who / when / why of releases, promotions, overrides): "
        f"{db[AUDIT_TRAIL].count_documents({})} events.",
        "OpenLineage events of every task (file transport in the data dir, or Marquez).",
        "",
        "## 6. Limits and foreseeable misuse",
        *[f"- {limit}" for limit in LIMITS],
        "",
        "## 7. Versions",
        _table(
            {
                "dataset": f"{manifest.version} ({manifest.created_at})" if manifest else "none",
                "model": f"{model.model_id} ({model.created_at})" if model else "none",
                "embedding model": settings.embedding_model_id,
                "validation suites": (
                    ", ".join(f"{k}: v{v}" for k, v in _sources(manifest)["suite_versions"].items())
                    if manifest
                    else "n/a"
                ),
            }
        ),
        "",
    ]
    return "\n".join(lines)


def build_docs(settings: Settings, out: Path) -> list[Path]:
    """Write dataset_card.md, model_card.md and system_record.md into ``out``; return their paths."""
    from ragdag.features.drift import latest_drift
    from ragdag.observability.lineage import latest_trained_model
    from ragdag.stores.mongo import mongo_database

    manifest = _latest_manifest(settings)
    model = latest_trained_model(settings)
    with mongo_database(settings) as db:
        record = system_record(settings, db, manifest, model)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "dataset_card.md": dataset_card(settings, manifest, latest_drift(settings)),
        "model_card.md": model_card(model, manifest),
        "system_record.md": record,
    }
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
