"""The twin for real: the demo corpus through the dataset stage (base-model rejected answers), then
the packaged SmolLM2-135M-Instruct fine-tuned with LoRA by the local backend, evaluated against its
base on the held-out documents and promoted only on the lower bound of its bootstrap interval."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow  # builds a dataset with SmolLM2's answers and fine-tunes SmolLM2


def _english(text: str) -> bool:
    words = text.split()
    return len(words) >= 3 and sum(c.isascii() for c in text) >= 0.95 * len(text)


def test_the_demo_corpus_trains_a_twin_that_beats_its_base(settings, demo_chunks, monkeypatch) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (requirements.txt) is not installed")
    from ragdag.datasets.publish import publish_instruct_dataset
    from ragdag.settings import get_settings
    from ragdag.stores.object_store import open_object_store
    from ragdag.training.registry import ModelStage
    from ragdag.training.service import evaluate_candidate, prepare_training, register_and_promote, train_locally

    monkeypatch.setenv("RAGDAG_DATASET_REJECTED_MAX_TOKENS", "64")
    get_settings.cache_clear()
    settings = get_settings()
    build = publish_instruct_dataset(settings, "run-1")
    assert build.published and build.manifest.preference_test_samples >= 5
    rejected = build.manifest.generation.rejected
    assert rejected["engine"] == "llama.cpp" and rejected["model"].startswith("smollm2-135m-instruct@")

    plan = prepare_training(settings, "run-1", None)
    assert plan.job.base_model == "smollm2-135m-instruct"
    record = train_locally(settings, plan.job)
    assert record.adapter and record.metrics["sft_steps"] == settings.training_steps
    evaluation = evaluate_candidate(settings, plan.job)
    base, trained = evaluation["metrics"]["base"], evaluation["metrics"]["trained"]

    # The held-out answers (documents it never saw) are likelier under the twin than under its base.
    assert trained["answers_scored"] == base["answers_scored"] == evaluation["test_samples"]
    assert trained["nll_per_byte"] < base["nll_per_byte"], (trained, base)
    # DPO's implicit reward (the base as reference) prefers the author's text over the base's own answer.
    assert trained["dpo_pairs"] >= 5 and trained["dpo_reward_accuracy"] >= 0.7, trained

    store = open_object_store(settings)
    generations = json.loads(store.get_bytes(plan.job.file_key("evaluation.json")))["generations"]
    assert len(generations["trained"]) == settings.training_eval_generations
    assert all(_english(g["answer"]) for g in generations["trained"]), generations["trained"]

    # Promotion follows the lower bound of the bootstrap interval, whichever way it falls.
    record, decision = register_and_promote(settings, plan.job)
    low, high = decision["interval"]
    assert low <= decision["improvement"] <= high and decision["samples"] == trained["answers_scored"]
    assert decision["promote"] == (low > settings.training_promotion_margin)
    assert (record.stage is ModelStage.PRODUCTION) == decision["promote"]
    assert "interval" in decision["reason"] and f"{decision['samples']} test answers" in decision["reason"]
    card = store.get_bytes(plan.job.file_key("README.md")).decode()
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "| trained |" in card
    assert "## Generations (held-out instructions, greedy)" in card and "**Promotion**: " in card
    assert decision["reason"] in card
