"""Partitions sized by the work: a small run is one encoding task, a large one spreads over all.

The plan only (no model): real MongoDB (the embedded server), Qdrant local mode, the object store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from ragdag.documents import DocumentRecord, DocumentStatus, ValidationState, collection_name
from ragdag.features.partitions import CHARS_PER_CHUNK, load_plan, partition_count, partition_of
from ragdag.features.pipeline import plan_embedding
from ragdag.models import Category, content_hash, document_id
from ragdag.stores.object_store import open_object_store


def _store(mongo_db, category: Category, url: str, content: str, files: list[dict] | None = None) -> str:
    now = datetime.now(UTC)
    record = DocumentRecord(
        _id=document_id(url),
        url=url,
        category=category,
        platform="sizing.test",
        author_id="a",
        author_full_name="Jane Doe",
        content=content,
        content_hash=content_hash(content + str(files)),
        crawled_at=now,
        first_crawled_at=now,
        crawler_version="test",
        files=files,
        validation=ValidationState(status=DocumentStatus.VALIDATED),
    )
    mongo_db[collection_name(category)].insert_one(record.stored())
    return record.id


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [(0, 1), (95, 1), (499, 1), (1_000, 2), (1_999, 3), (50_000, 4)],
)
def test_partition_count_holds_the_minimum_and_the_maximum(chunks: int, expected: int) -> None:
    assert partition_count(chunks, max_partitions=4, min_partition_chunks=500) == expected


def test_a_small_run_is_one_partition(settings, sample_corpus) -> None:
    """The demo's sample data (about a hundred chunks) is one task: the model is loaded once."""
    plan = plan_embedding(settings.model_copy(update={"embedding_partitions": 4}), "run-small")
    assert settings.embedding_min_partition_chunks == 500  # the default
    assert 20 <= plan.estimated_chunks < 500
    assert len(plan.partitions) == 1 and plan.partitions[0].documents == len(sample_corpus)


def test_a_large_run_spreads_over_every_partition(settings, mongo_db) -> None:
    """Enough text for 4 x 500 chunks spreads over all 4 partitions; repository files count too."""
    paragraph = "A sentence about feature stores and the vectors they keep for retrieval. " * 14  # ~1,000 chars
    ids = [_store(mongo_db, Category.ARTICLES, f"https://sizing.test/a{i}", paragraph * 10) for i in range(200)]
    files = [{"path": f"src/m{j}.py", "content": "def f(x):\n    return x * 2\n" * 40} for j in range(5)]
    ids.append(_store(mongo_db, Category.REPOSITORIES, "https://sizing.test/repo", "README", files))
    chars = 200 * len(paragraph) * 10 + len("README") + sum(len(f["content"]) for f in files)

    plan = plan_embedding(settings.model_copy(update={"embedding_partitions": 4}), "run-large")

    per_document = [math.ceil(len(paragraph) * 10 / CHARS_PER_CHUNK)] * 200 + [
        math.ceil((chars - 200 * len(paragraph) * 10) / CHARS_PER_CHUNK)
    ]
    assert plan.estimated_chunks == sum(per_document) >= 2_000
    assert [ref.partition for ref in plan.partitions] == [0, 1, 2, 3]
    store = open_object_store(settings)
    placed = {d.document_id: ref.partition for ref in plan.partitions for d in load_plan(store, ref.plan_key).documents}
    assert placed == {i: partition_of(i, 4) for i in ids}

    # The same documents with a higher minimum: fewer, fuller partitions.
    fewer = plan_embedding(
        settings.model_copy(update={"embedding_partitions": 4, "embedding_min_partition_chunks": 1_000}), "run-fewer"
    )
    assert len(fewer.partitions) == 2 and sum(ref.documents for ref in fewer.partitions) == len(ids)
