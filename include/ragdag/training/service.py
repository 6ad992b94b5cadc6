"""The training stage's steps, one function per task of ``train_model``: prepare, train (local) or
record the SageMaker job, evaluate, and register with the promotion decision.

Every outcome lands in the registry: a job is ``queued`` when planned, ``running`` when handed to
a backend, then ``succeeded`` or ``failed`` with the error — so a failed run leaves a record, and
the next dataset version (another model id) still trains.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ragdag import __version__
from ragdag.datasets.layout import manifest_key, preference_key
from ragdag.datasets.publish import NoDatasetVersion, latest_dataset_version, load_manifest
from ragdag.settings import Settings
from ragdag.stores.mongo import mongo_database
from ragdag.stores.object_store import ObjectStore, open_object_store
from ragdag.training.artifacts import EVALUATION_FILE, publish_model_files, unpack_model
from ragdag.training.job import (
    InvalidTrainConf,
    TrainingJob,
    parse_train_conf,
    plan_training_job,
    resolve_hyperparameters,
)
from ragdag.training.registry import (
    ModelRecord,
    ModelStage,
    ModelStatus,
    TrainingRunner,
    fail_lost_jobs,
    find_by_job_name,
    find_model,
    production_model,
    save_model,
    set_stage,
    take_over,
)

AUTOMATIC = "train_model"  # the actor of automatic stage changes
# The local training task's time limit beyond the training process's own (staging, packing, upload).
TASK_TIME_MARGIN_S = 600


def local_task_timeout(settings: Settings) -> timedelta:
    """How long the ``train_local`` task may run: past it, a job still ``running`` is lost."""
    return timedelta(seconds=settings.training_timeout_s + TASK_TIME_MARGIN_S)


class TrainingPlan(BaseModel):
    """What ``prepare`` hands to the next tasks (an XCom)."""

    job: TrainingJob
    already_trained: bool
    backend: str

    def summary(self) -> dict[str, Any]:
        return {"model_id": self.job.model_id, "dataset_version": self.job.dataset_version}


def code_version() -> str:
    try:
        from ragdag.observability.run_records import code_version as describe

        version = describe()
        return version.git_sha or f"{version.package_version}+{version.package_hash}"
    except Exception:  # noqa: BLE001 - the run-record module is optional here
        return __version__


def _has_preference(store: ObjectStore, manifest: Any) -> bool:
    return bool(getattr(manifest, "preference_train_uri", None)) and store.exists(
        preference_key(manifest.version, "train")
    )


def prepare_training(
    settings: Settings, run_id: str, conf: dict | None, triggered_version: str | None = None
) -> TrainingPlan:
    """Validate the conf, pick the dataset version, plan the job and record it as queued.

    Raises :class:`InvalidTrainConf` (naming the field) for a conf no retry can fix.
    """
    parsed = parse_train_conf(conf)
    version = parsed.dataset_version or triggered_version or latest_dataset_version(settings)
    store = open_object_store(settings)
    if not store.exists(manifest_key(version)):
        message = f"no complete dataset version {version!r} (no {manifest_key(version)}; see `ragdag datasets list`)"
        if parsed.dataset_version:
            raise InvalidTrainConf(f"invalid train_model conf: dataset_version: {message}")
        raise NoDatasetVersion(message)
    manifest_bytes = store.get_bytes(manifest_key(version))
    manifest = load_manifest(settings, version)
    hyperparameters = resolve_hyperparameters(settings, parsed.hyperparameters)
    has_preference = _has_preference(store, manifest)
    job = plan_training_job(settings, manifest, manifest_bytes, hyperparameters, has_preference=has_preference)
    with mongo_database(settings) as db:
        fail_lost_jobs(db, deadline=local_task_timeout(settings))  # a killed earlier run's job
        existing = find_model(db, job.model_id)
        if existing is not None and existing.status is ModelStatus.SUCCEEDED:
            job = job.model_copy(update={"job_name": existing.job_name, "attempt": existing.attempts})
            return TrainingPlan(job=job, already_trained=True, backend=existing.backend)
        attempt = existing.attempts + 1 if existing else 1
        job = plan_training_job(
            settings, manifest, manifest_bytes, hyperparameters, attempt=attempt, has_preference=has_preference
        )
        record = ModelRecord(
            model_id=job.model_id,
            job_name=job.job_name,
            attempts=attempt,
            status=ModelStatus.QUEUED,
            dataset_version=version,
            dataset_manifest_uri=job.manifest_uri,
            dataset_manifest_sha256=job.manifest_sha256,
            base_model=job.base_model,
            adapter=bool(job.base_model),
            backend=settings.training_backend,
            hyperparameters=job.hyperparameters,
            code_version=code_version(),
            artifact_uri=store.uri(job.artifact_key),
            trained_by_run_id=run_id,
            **({"created_at": existing.created_at} if existing else {}),
        )
        save_model(db, record)
    return TrainingPlan(job=job, already_trained=False, backend=settings.training_backend)


def _update(settings: Settings, model_id: str, **changes: Any) -> ModelRecord:
    with mongo_database(settings) as db:
        record = find_model(db, model_id)
        if record is None:
            raise LookupError(f"no model {model_id!r} in the registry")
        return save_model(db, record.model_copy(update=changes))


def mark_running(settings: Settings, job: TrainingJob, runner: TrainingRunner | None = None) -> ModelRecord:
    """The job is handed to a backend: on this process (``runner``, the local backend), or to
    SageMaker. An earlier attempt left ``running`` by a killed task is failed with the reason first."""
    if runner is None:
        return _update(settings, job.model_id, status=ModelStatus.RUNNING, job_name=job.job_name, error=None)
    with mongo_database(settings) as db:
        record = find_model(db, job.model_id)
        if record is None:
            raise LookupError(f"no model {job.model_id!r} in the registry")
        return take_over(
            db, record.model_copy(update={"job_name": job.job_name}), runner, deadline=local_task_timeout(settings)
        )


def mark_failed(settings: Settings, job_name: str, error: str) -> ModelRecord | None:
    """Record a failed training job (found by its job name) with the error; None if unknown."""
    with mongo_database(settings) as db:
        record = find_by_job_name(db, job_name) or find_by_job_name(db, job_name.rsplit("-", 1)[0])
        if record is None:
            return None
        update = {"status": ModelStatus.FAILED, "error": error[-4000:], "runner": None}
        return save_model(db, record.model_copy(update=update))


def _record_success(settings: Settings, store: ObjectStore, job: TrainingJob, archive: bytes) -> ModelRecord:
    metrics, uris = publish_model_files(store, job, archive)
    return _update(
        settings,
        job.model_id,
        status=ModelStatus.SUCCEEDED,
        error=None,
        stage=ModelStage.CANDIDATE,
        job_name=job.job_name,
        runner=None,
        metrics=metrics,
        **uris,
    )


def train_locally(settings: Settings, job: TrainingJob) -> ModelRecord:
    """Run train.py here; a failure is recorded (status failed, the error) before it is raised."""
    from ragdag.training.local_backend import run_local_training

    mark_running(settings, job, TrainingRunner.this_process())
    store = open_object_store(settings)
    try:
        archive = run_local_training(
            store,
            job,
            num_threads=settings.training_num_threads,
            timeout_s=settings.training_timeout_s,
            model_cache_dir=settings.dequantized_models_dir,
        )
        store.put_bytes(job.artifact_key, archive)
        return _record_success(settings, store, job, archive)
    except BaseException as error:  # Airflow's timeout and termination too; a SIGKILL: `fail_lost_jobs`
        mark_failed(settings, job.job_name, f"{type(error).__name__}: {error}")
        raise


def record_sagemaker_result(settings: Settings, job: TrainingJob, result: dict[str, Any]) -> ModelRecord:
    """Register the completed SageMaker job (the operator's return value) with its artifact."""
    described = result.get("Training", result)
    job_name = described.get("TrainingJobName", job.job_name)
    job = job.model_copy(update={"job_name": job_name})
    store = open_object_store(settings)
    artifact_uri = described.get("ModelArtifacts", {}).get("S3ModelArtifacts") or store.uri(job.artifact_key)
    try:
        archive = store.get_bytes(key_of(store, artifact_uri))
        record = _record_success(settings, store, job, archive)
    except Exception as error:
        mark_failed(settings, job_name, f"{type(error).__name__}: {error}")
        raise
    return _update(
        settings,
        job.model_id,
        artifact_uri=artifact_uri,
        metrics={**record.metrics, "sagemaker": _sagemaker_facts(described)},
    )


def _sagemaker_facts(described: dict[str, Any]) -> dict[str, Any]:
    facts = {
        k: described.get(k)
        for k in ("TrainingJobArn", "TrainingJobStatus", "BillableTimeInSeconds", "TrainingTimeInSeconds")
    }
    facts["final_metrics"] = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
    return json.loads(json.dumps(facts, default=str))


def key_of(store: ObjectStore, uri: str) -> str:
    """The object key of a URI in this store (a file:// root may be spelled resolved or not)."""
    for root in (store.root_uri, store.uri("")):
        prefix = root.rstrip("/") + "/"
        if uri.startswith(prefix):
            return uri.removeprefix(prefix)
    raise ValueError(f"{uri} is outside the object store {store.root_uri}")


def _read_jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _judge_client(settings: Settings):
    from ragdag.stores.connections import find_connection

    if find_connection(settings.llm_conn_id) is None:
        return None
    from ragdag.llm_client import open_llm_client

    return open_llm_client(settings, temperature=0.0)


def evaluate_candidate(settings: Settings, job: TrainingJob) -> dict[str, Any]:
    """Evaluate base, candidate and current production model on the candidate's test split; save
    ``evaluation.json`` beside the artifact and the metrics in the registry."""
    from ragdag.training.evaluation import (
        EvaluationOptions,
        evaluate_model,
        load_base_of,
        load_trained,
        reward_accuracy,
        torch_threads,
        with_adapter,
    )
    from ragdag.training.train import base_of

    store = open_object_store(settings)
    with mongo_database(settings) as db:
        record = find_model(db, job.model_id)
        production = production_model(db)
    if record is None or record.status is not ModelStatus.SUCCEEDED:
        raise LookupError(f"model {job.model_id} has not trained successfully: nothing to evaluate")
    rows = _read_jsonl(store.get_bytes(job.test_key))
    if not rows:
        raise ValueError(f"the test split of {job.dataset_version} is empty: nothing to evaluate on")
    test_pairs_key = (job.preference_keys or {}).get("test")
    pairs = _read_jsonl(store.get_bytes(test_pairs_key)) if test_pairs_key and store.exists(test_pairs_key) else []
    hyper = record.hyperparameters
    options = EvaluationOptions(
        prompt_template=hyper.get("prompt_template", settings.training_prompt_template),
        max_seq_length=int(hyper.get("max_seq_length", settings.training_max_seq_length)),
        generations=settings.training_eval_generations,
        max_new_tokens=settings.training_eval_max_new_tokens,
        num_threads=settings.training_num_threads,
    )
    cache = str(settings.dequantized_models_dir)
    judge = _judge_client(settings)
    results: dict[str, Any] = {}
    production_error: str | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="ragdag-eval-") as tmp, torch_threads(options.num_threads):
            candidate_dir = unpack_model(store.get_bytes(key_of(store, record.artifact_uri)), Path(tmp) / "candidate")
            model, tokenizer = load_base_of(candidate_dir, record.metrics, cache)
            results["base"] = evaluate_model(model, tokenizer, rows, options, judge, pairs)
            if base_of(candidate_dir) is not None:  # the adapter goes on the base just measured
                model = with_adapter(model, candidate_dir)
            else:
                model, tokenizer = load_trained(candidate_dir, cache)
            results["trained"] = evaluate_model(model, tokenizer, rows, options, judge, pairs)
            if production is not None and production.model_id != record.model_id:
                try:
                    production_dir = unpack_model(
                        store.get_bytes(key_of(store, production.artifact_uri)), Path(tmp) / "production"
                    )
                    model, tokenizer = load_trained(production_dir, cache)
                    results["production"] = evaluate_model(model, tokenizer, rows, options, judge, pairs)
                except Exception as error:  # noqa: BLE001 - recorded; the candidate then stays a candidate
                    production_error = f"{type(error).__name__}: {error}"
    finally:
        if judge is not None:
            judge.close()
    if pairs:
        beta = float(hyper.get("dpo_beta", settings.training_dpo_beta))
        for name in ("trained", "production"):
            if name in results:
                results[name]["metrics"].update(reward_accuracy(results[name]["pairs"], results["base"]["pairs"], beta))
    evaluation = {
        "dataset_version": job.dataset_version,
        "test_samples": len(rows),
        "test_pairs": len(pairs),
        "options": options.model_dump(),
        "judge": judge is not None,
        "production_model_id": production.model_id if "production" in results else None,
        "production_error": production_error,
        "metrics": {name: r["metrics"] for name, r in results.items()},
        # What a promotion bootstraps: each answer's NLL, each generation's scores (same order per model).
        "per_answer": {name: r["per_answer"] for name, r in results.items()},
        "generation_scores": {
            name: [{k: g[k] for k in ("rouge_l", "judge") if k in g} for g in r["generations"]]
            for name, r in results.items()
        },
    }
    generations = {n: r["generations"] for n, r in results.items()}
    evaluation_uri = store.put_bytes(
        job.file_key(EVALUATION_FILE),
        json.dumps({**evaluation, "generations": generations}, indent=2, ensure_ascii=False).encode("utf-8"),
    )
    _publish_evaluation_in_card(store, record, evaluation, generations)
    _update(settings, job.model_id, evaluation=evaluation, evaluation_uri=evaluation_uri)
    return evaluation


def _shortened(text: str, limit: int = 280) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def evaluation_section(evaluation: dict[str, Any], generations: dict[str, list[dict]] | None = None) -> str:
    """The model card's evaluation: every model on the same test split, the promotion's interval
    when there is one, and the first generations of the base and the candidate side by side."""
    names = (
        "nll_per_byte",
        "loss",
        "perplexity",
        "dpo_reward_accuracy",
        "dpo_reward_margin",
        "rouge_l",
        "judge_accuracy",
        "judge_style",
    )
    measured = evaluation["metrics"]
    columns = [n for n in names if any(n in m for m in measured.values())]
    rows = [
        f"| {model} | " + " | ".join(f"{m[c]:.4f}" if c in m else "-" for c in columns) + " |"
        for model, m in measured.items()
    ]
    trained = measured.get("trained", {})
    counts = (
        f"{evaluation['test_samples']} test answers ({trained.get('answers_scored', '?')} scored)"
        + (f", {trained.get('dpo_pairs', 0)} test preference pairs" if evaluation.get("test_pairs") else "")
        + (f", ROUGE-L over {trained.get('rouge_l_samples', 0)} greedy generations" if "rouge_l" in trained else "")
        + (f", LLM judge 1-3 over {trained.get('judge_samples', 0)}" if evaluation["judge"] else "")
    )
    text = (
        f"\n## Evaluation\n\nTest split of `{evaluation['dataset_version']}`: {counts}. The test documents are "
        "chosen by a hash of their id, so no model here was trained on them.\n\n| model | "
        + " | ".join(columns)
        + " |\n|---|"
        + "---|" * len(columns)
        + "\n"
        + "\n".join(rows)
        + "\n"
    )
    promotion = evaluation.get("promotion")
    if promotion:
        text += (
            f"\n**Promotion**: {'promoted' if promotion.get('promote') else 'not promoted'}: {promotion['reason']}\n"
        )
    if generations and generations.get("base") and generations.get("trained"):
        text += "\n## Generations (held-out instructions, greedy)\n"
        for base, mine in zip(generations["base"], generations["trained"]):
            text += (
                f"\n**Instruction**: {_shortened(mine['instruction'], 400)}\n\n"
                f"| | text |\n|---|---|\n| author (reference) | {_cell(mine['reference'])} |\n"
                f"| base | {_cell(base['answer'])} |\n| trained | {_cell(mine['answer'])} |\n"
            )
    return text


def _cell(text: str) -> str:
    return _shortened(text).replace("|", "\\|") or "(empty)"


def _publish_evaluation_in_card(
    store: ObjectStore,
    record: ModelRecord,
    evaluation: dict[str, Any],
    generations: dict[str, list[dict]] | None = None,
) -> None:
    """The published card and metrics.json beside the artifact gain the evaluation."""
    if record.card_uri:
        card = store.get_bytes(key_of(store, record.card_uri)).decode("utf-8")
        card = card.split("\n## Evaluation\n", 1)[0].rstrip("\n") + "\n" + evaluation_section(evaluation, generations)
        store.put_bytes(key_of(store, record.card_uri), card.encode("utf-8"))
    if record.metrics_uri:
        metrics = json.loads(store.get_bytes(key_of(store, record.metrics_uri)))
        metrics["evaluation"] = evaluation["metrics"]
        store.put_bytes(key_of(store, record.metrics_uri), json.dumps(metrics, indent=2, sort_keys=True).encode())


def _card_with_promotion(settings: Settings, record: ModelRecord, decision: dict[str, Any]) -> None:
    """The card's evaluation section again, now with the promotion decision and its interval."""
    store = open_object_store(settings)
    generations = None
    if record.evaluation_uri:
        generations = json.loads(store.get_bytes(key_of(store, record.evaluation_uri))).get("generations")
    _publish_evaluation_in_card(store, record, {**(record.evaluation or {}), "promotion": decision}, generations)


def _evaluated(evaluation: dict[str, Any], name: str) -> dict[str, Any]:
    """One model's result as :func:`ragdag.training.evaluation.decide_promotion` reads it."""
    return {
        "metrics": evaluation["metrics"][name],
        "per_answer": (evaluation.get("per_answer") or {}).get(name, []),
        "generations": (evaluation.get("generation_scores") or {}).get(name, []),
    }


def register_and_promote(settings: Settings, job: TrainingJob) -> tuple[ModelRecord, dict[str, Any]]:
    """Promote the candidate only when it beats production (or, with none, the base) on the same
    evaluation by more than the margin; otherwise it stays a candidate. Returns the record and the
    decision (its reason goes into the Asset event)."""
    from ragdag.training.evaluation import decide_promotion

    with mongo_database(settings) as db:
        record = find_model(db, job.model_id)
        if record is None or record.evaluation is None:
            raise LookupError(f"model {job.model_id} has no evaluation: run the evaluate task first")
        measured = record.evaluation["metrics"]
        current = production_model(db)
        if current is not None and current.model_id != record.model_id:
            if "production" not in measured or record.evaluation.get("production_model_id") != current.model_id:
                error = record.evaluation.get("production_error")
                why = (
                    f"production model {current.model_id} could not be evaluated on this test split ({error})"
                    if error
                    else f"production model {current.model_id} changed since the evaluation: evaluate again"
                )
                decision_dict = {
                    "promote": False,
                    "metric": settings.training_promotion_metric,
                    "margin": settings.training_promotion_margin,
                    "reference_model": current.model_id,
                    "reason": f"{why}; stays a candidate (`ragdag models promote` to promote it by hand)",
                }
                record = save_model(db, record.model_copy(update={"promotion": decision_dict}))
                return record, decision_dict
            reference_key, name = "production", current.model_id
        else:
            reference_key, name = "base", "the base model"
        decision = decide_promotion(
            _evaluated(record.evaluation, "trained"),
            _evaluated(record.evaluation, reference_key),
            reference_name=name,
            metric=settings.training_promotion_metric,
            margin=settings.training_promotion_margin,
            confidence=settings.training_promotion_confidence,
            resamples=settings.training_promotion_bootstrap_samples,
            seed=settings.dataset_seed,
        )
        record = record.model_copy(update={"promotion": decision.model_dump()})
        _card_with_promotion(settings, record, decision.model_dump())
        if decision.promote and record.stage is not ModelStage.PRODUCTION:
            record = set_stage(db, record, ModelStage.PRODUCTION, actor=AUTOMATIC, reason=decision.reason)
        else:
            record = save_model(db, record)
    return record, decision.model_dump()


def asset_extra(record: ModelRecord, trained_now: bool, decision: dict[str, Any] | None) -> dict[str, Any]:
    """The ``trained_model`` event's extra: small, JSON-safe, with the promotion's reason."""
    trained = (record.evaluation or {}).get("metrics", {}).get("trained", {})
    return {
        "model_id": record.model_id,
        "dataset_version": record.dataset_version,
        "status": record.status.value,
        "stage": record.stage.value if record.stage else None,
        "promoted": bool(decision and decision.get("promote")),
        "reason": (decision or {}).get("reason", "already trained: registry record unchanged"),
        "artifact_uri": record.artifact_uri,
        "card_uri": record.card_uri,
        "metrics": {k: v for k, v in trained.items() if isinstance(v, (int, float))},
        "trained_now": trained_now,
    }
