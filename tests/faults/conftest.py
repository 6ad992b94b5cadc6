"""Fault-injection fixtures: the real model (the stored sample pages are `sample_corpus`, tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedder():
    from ragdag.features.embedding import load_embedder
    from ragdag.settings import Settings

    return load_embedder(Settings())
