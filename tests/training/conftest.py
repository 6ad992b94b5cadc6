"""Training tests run the real entry point, fast: few steps, one thread, short generations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # dataset_fixtures

FAST = {
    "RAGDAG_TRAINING_STEPS": "20",
    "RAGDAG_TRAINING_DPO_STEPS": "2",
    "RAGDAG_TRAINING_EVAL_GENERATIONS": "2",
    "RAGDAG_TRAINING_EVAL_MAX_NEW_TOKENS": "8",
    "RAGDAG_TRAINING_NUM_THREADS": "1",
}


@pytest.fixture
def fast_settings(settings, mongo_db, monkeypatch):
    from ragdag.settings import get_settings

    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()
