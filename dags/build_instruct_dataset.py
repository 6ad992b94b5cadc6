"""
### build_instruct_dataset

Builds a versioned **instruct dataset** (SFT and preference pairs) from the feature store.

- **Scheduled on:** `embedded_chunks`.
- **Reads:** the embedded chunks in Qdrant; the documents' titles and validation runs in MongoDB.
- **Gate:** a new version only when at least `RAGDAG_DATASET_MIN_CHANGED_DOCUMENTS` documents were
  added, changed or removed since the last one (or the dataset settings changed); otherwise
  `build` logs why and `announce` is skipped, so nothing downstream is triggered. `conf`
  `{"force": true}` builds anyway (any other key fails `build` at once, naming it).
- **Does:** extracts of 1000–2000 characters, instructions from the `offline` generator (the
  documents' own structure) or the `llm` one (`llm_default` connection), filters (secret and
  PII masking, injection text, length, language, boilerplate, exact and MinHash near-duplicates),
  split by document, decontamination, preference pairs, then the GX suite
  `expectations/instruct_samples.json`: a
  failing version is not written, `build` fails without retries (like `validate_documents`) and
  the report is under `validation/<run_id>/instruct_samples/`.
- **Writes:** `instruct_datasets/<version>/` — `train.jsonl`, `test.jsonl`, `preference/{train,test}.jsonl`,
  `README.md` (dataset card), `manifest.json` last — and `instruct_datasets/LATEST`. The version is
  a hash of the data: the same inputs give the same version, and a version is never rewritten.
- **Emits:** `instruct_dataset` (from `announce`) with the version and sample counts, only when
  `LATEST` changed: a new version, or an older one whose content came back (`published: false`).
"""

from __future__ import annotations

from airflow.sdk import Metadata, dag, task

from ragdag.assets import EMBEDDED_CHUNKS, INSTRUCT_DATASET
from ragdag.dag_wiring import DAG_KWARGS, TAGS, run_id_of
from ragdag.settings import get_settings
from ragdag.stores.qdrant import QDRANT_POOL


@dag(schedule=[EMBEDDED_CHUNKS], tags=[*TAGS, "datasets"], doc_md=__doc__, **DAG_KWARGS)
def build_instruct_dataset() -> None:
    @task(pool=QDRANT_POOL)
    def build(**context) -> dict:
        from ragdag.datasets.publish import parse_build_conf, publish_instruct_dataset

        # A bad conf, a verdict on the data, no chunks, a missing connection or a spent token budget
        # is a PermanentError: the task fails at once (DEFAULT_ARGS' retry policy).
        conf = parse_build_conf(context["dag_run"].conf)
        result = publish_instruct_dataset(get_settings(), run_id_of(context), force=conf.force)
        return result.summary()

    @task(outlets=[INSTRUCT_DATASET])
    def announce(result: dict):
        from airflow.sdk.exceptions import AirflowSkipException

        if not result["latest_changed"]:
            # A skipped task emits no Asset event: train_model is not triggered.
            raise AirflowSkipException(f"no new dataset version: {result['reason']}")
        yield Metadata(INSTRUCT_DATASET, {k: v for k, v in result.items() if k not in ("reason", "latest_changed")})

    announce(build())


build_instruct_dataset()
