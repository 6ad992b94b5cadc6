"""
### train_model

Fine-tunes a model on an instruct dataset version, evaluates it, and promotes it only when it
beats the production model.

- **Scheduled on:** `instruct_dataset`; or triggered over the REST API with a `conf`:
  `{"dataset_version": "v-…", "hyperparameters": {"steps": 60, "learning_rate": 0.0005}}`
  (validated by `ragdag.training.job.TrainConf`: an unknown key or a bad value fails `prepare`
  at once, naming the field).
- **Reads:** the version named in the conf, else in the triggering Asset event, else the latest
  one: `train.jsonl` / `test.jsonl` (SFT) and, when present, `preference/` (DPO).
- **Runs:** the one entry point `ragdag/training/train.py` (TRL SFT, then DPO; LoRA on
  `RAGDAG_TRAINING_BASE_MODEL`, or the tiny local Llama fully fine-tuned) on the backend of
  `RAGDAG_TRAINING_BACKEND`, chosen at run time by `choose_backend` (the other branch shows as
  skipped, so the graph always tells which backend ran):
  `local` → `train_local` (a child process on the worker); `sagemaker` → `build_sagemaker_config`
  (uploads `sourcedir.tar.gz`) → `train_sagemaker` (the provider's `SageMakerTrainingOperator`,
  deferrable: no worker slot is held while the job runs) → `collect_sagemaker_job`. A version
  already trained with the same hyperparameters skips to `register` (`reuse_registered`).
- **Evaluates** (`evaluate`): base, candidate and current production model on the same test
  split (loss, perplexity, NLL per byte, ROUGE-L of generations; LLM judge with `llm_default`).
- **Writes:** `models/<job>/output/model.tar.gz`, its `README.md` (model card), `metrics.json`,
  `evaluation.json`, and the MongoDB `model_registry` record (queued → running → succeeded or
  failed with the error; stage candidate / production / archived).
- **Emits:** `trained_model` with the model id, stage, whether it was promoted and why.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Metadata, dag, task

from ragdag.assets import INSTRUCT_DATASET, TRAINED_MODEL
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of, triggering_extra
from ragdag.settings import get_settings
from ragdag.training.sagemaker_operator import TrainingJobOperator

SETTINGS = get_settings()
SAGEMAKER_WAIT = timedelta(
    seconds=(SETTINGS.sagemaker_max_wait_s if SETTINGS.sagemaker_use_spot else SETTINGS.sagemaker_max_runtime_s) + 3600
)


def _job(plan: dict):
    from ragdag.training.service import TrainingPlan

    return TrainingPlan.model_validate(plan).job


@dag(schedule=[INSTRUCT_DATASET], tags=[*TAGS, "training"], doc_md=__doc__, **DAG_KWARGS)
def train_model() -> None:
    @task
    def prepare(**context) -> dict:
        from ragdag.training.service import prepare_training

        # A bad conf or a missing version is a PermanentError: failed at once (DEFAULT_ARGS).
        plan = prepare_training(
            get_settings(), run_id_of(context), context["dag_run"].conf, triggering_extra(context, "version")
        )
        return plan.model_dump(mode="json")

    @task.branch
    def choose_backend(plan: dict) -> str:
        if plan["already_trained"]:
            return "reuse_registered"
        return {"local": "train_local", "sagemaker": "build_sagemaker_config"}[plan["backend"]]

    @task
    def reuse_registered(plan: dict) -> dict:
        return {"model_id": plan["job"]["model_id"]}

    @task(execution_timeout=timedelta(seconds=SETTINGS.training_timeout_s + 600))
    def train_local(plan: dict) -> dict:
        from ragdag.training.service import train_locally

        # A failed training process is permanent (same data, same seed: the same failure).
        record = train_locally(get_settings(), _job(plan))
        return {"model_id": record.model_id, "status": record.status.value}

    @task
    def build_sagemaker_config(plan: dict) -> dict:
        from ragdag.training.sagemaker_backend import SageMakerConfigError, build_training_config
        from ragdag.training.service import mark_failed, mark_running

        job = _job(plan)
        try:
            config = build_training_config(get_settings(), job)
        except SageMakerConfigError as error:
            mark_failed(get_settings(), job.job_name, str(error))
            raise  # permanent: failed at once
        mark_running(get_settings(), job)
        return config

    @task
    def collect_sagemaker_job(plan: dict, result: dict) -> dict:
        from ragdag.training.service import record_sagemaker_result

        record = record_sagemaker_result(get_settings(), _job(plan), result)
        return {"model_id": record.model_id, "status": record.status.value}

    @task(trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(hours=2))
    def evaluate(plan: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ragdag.training.service import evaluate_candidate

        if plan["already_trained"]:
            raise AirflowSkipException("already trained and evaluated: see the registry record")

        evaluation = evaluate_candidate(get_settings(), _job(plan))
        return {"models": sorted(evaluation["metrics"]), "test_samples": evaluation["test_samples"]}

    @task(outlets=[TRAINED_MODEL], trigger_rule="none_failed_min_one_success")
    def register(plan: dict):
        from ragdag.training.registry import get_model
        from ragdag.training.service import asset_extra, register_and_promote

        settings = get_settings()
        if plan["already_trained"]:
            record, decision = get_model(settings, plan["job"]["model_id"]), None
        else:
            record, decision = register_and_promote(settings, _job(plan))
        yield Metadata(TRAINED_MODEL, asset_extra(record, not plan["already_trained"], decision))

    plan = prepare()
    branch = choose_backend(plan)
    config = build_sagemaker_config(plan)
    train_sagemaker = TrainingJobOperator(
        task_id="train_sagemaker",
        config=config,
        aws_conn_id=SETTINGS.aws_conn_id,
        deferrable=True,
        print_log=False,
        check_interval=SETTINGS.sagemaker_check_interval_s,
        max_attempts=int(SAGEMAKER_WAIT.total_seconds() // SETTINGS.sagemaker_check_interval_s) + 1,
        max_ingestion_time=int(SAGEMAKER_WAIT.total_seconds()),
        execution_timeout=SAGEMAKER_WAIT,
    )
    trained = [train_local(plan), collect_sagemaker_job(plan, train_sagemaker.output)]
    reused = reuse_registered(plan)
    branch >> [trained[0], config, reused]
    evaluated = evaluate(plan)
    trained >> evaluated
    [evaluated, reused] >> register(plan)


train_model()
