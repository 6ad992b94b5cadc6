"""Training tests run the real entry point, fast: the tiny random Llama (not the packaged SmolLM2),
few steps, one thread, short generations. tests/training/test_twin.py trains the real base."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # dataset_fixtures

FAST = {
    "RAGDAG_TRAINING_BASE_MODEL": "",
    "RAGDAG_TRAINING_STEPS": "20",
    "RAGDAG_TRAINING_DPO_STEPS": "2",
    "RAGDAG_TRAINING_EVAL_GENERATIONS": "2",
    "RAGDAG_TRAINING_EVAL_MAX_NEW_TOKENS": "8",
    "RAGDAG_TRAINING_NUM_THREADS": "1",
    # The tiny model gains a few percent in 20 steps: any interval above 0 promotes it here.
    "RAGDAG_TRAINING_PROMOTION_MARGIN": "0",
}


@pytest.fixture
def fast_settings(settings, mongo_db, monkeypatch):
    from ragdag.settings import get_settings

    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()
