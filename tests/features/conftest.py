"""Feature-stage fixtures: the real embedding model, loaded once for the whole test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def embedder():
    """The packaged all-MiniLM-L6-v2, offline; the pipeline's own loader caches the same object."""
    from ragdag.features.embedding import load_embedder
    from ragdag.settings import Settings

    return load_embedder(Settings())


@pytest.fixture(scope="session")
def tokenizer(embedder):
    return embedder.tokenizer


@pytest.fixture(scope="session")
def hf_tokenizer(embedder):
    """The model's Hugging Face tokenizer: an independent check of the chunker's own counts."""
    return embedder.model.tokenizer
