"""The feature stage on Airflow's CeleryExecutor, on this machine: a real ``redis-server`` as the broker
and two Celery workers (``airflow celery worker``, each reporting its own hostname), started by
``scripts/airflow_local.py`` (``executor="celery"``); the metadata DB stays SQLite (workers talk to the
api-server's Execution API, not the DB).

A few hundred accepted documents (paragraphs of the shared real article pages, under several
authors) are embedded by ``embed_documents`` triggered over REST, in four partitions on the
``embedding`` queue. Both workers must have run partitions, and Qdrant must hold exactly what the
same stage makes in this process (point ids, payload content hashes, vectors within 1e-5).
About 2-3 minutes here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = (
    "ars-1",
    "bbc-1",
    "cnet",
    "dropbox-blog",
    "gitlab-blog",
    "google-sre-book-1",
    "medium-1",
    "nytimes-1",
    "salon-1",
    "seattletimes-1",
    "theverge",
    "wapo-2",
    "wikipedia-2",
    "wordpress",
)
DOCUMENTS = 300
PARTITIONS = 4
STARTUP_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300


def _paragraphs(article_pages_dir: Path) -> list[str]:
    from ragdag.crawling.extraction import extract_article

    found: list[str] = []
    for name in PAGES:
        text = extract_article((article_pages_dir / name / "source.html").read_bytes()).content
        found.extend(p.strip() for p in re.split(r"\n+", text) if len(p.split()) >= 25)
    assert len(found) >= 150, "the shared article pages give too few paragraphs"
    return found


def _seed(db, paragraphs: list[str]) -> list[str]:
    """DOCUMENTS accepted articles of two or three consecutive paragraphs each, five authors."""
    from ragdag.crawling.document_store import upsert_document
    from ragdag.documents import STATUS_FIELD, DocumentStatus
    from ragdag.models import Category, document_id

    ids = []
    for i in range(DOCUMENTS):
        start = (i * 7) % len(paragraphs)
        body = paragraphs[start : start + 2 + i % 2] or paragraphs[:2]
        url = f"https://news.test/{i // 60}/article-{i}"
        upsert_document(
            db,
            category=Category.ARTICLES,
            url=url,
            author_full_name=f"Author {i % 5}",
            platform="news.test",
            content="\n\n".join(body),
            fields={"title": " ".join(body[0].split()[:8]), "language": "en"},
            http=None,
        )
        ids.append(document_id(url))
    db.articles.update_many({}, {"$set": {STATUS_FIELD: DocumentStatus.VALIDATED.value}})
    return ids


def _share_export_cache(data_dir: Path) -> None:
    """The project's exported model graph, so neither run exports it again (bench/embed.py does the same)."""
    from ragdag.features.embedding import export_cache_dir
    from ragdag.settings import Settings

    shared = export_cache_dir(Settings(data_dir=Settings.model_fields["data_dir"].default))
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / shared.name).symlink_to(shared, target_is_directory=True)


def _contents(settings) -> dict[str, tuple[str, str, list[float]]]:
    """Chunk point id -> (document content hash, chunk hash, vector); document records alike."""
    from ragdag.features.vector_store import iter_chunks, iter_document_points
    from ragdag.stores.qdrant import qdrant_client

    with qdrant_client(settings) as client:
        points = [*iter_chunks(client, with_vectors=True), *iter_document_points(client, with_vectors=True)]
    return {p.id: (p.payload["content_hash"], p.payload.get("chunk_hash", ""), p.vector) for p in points}


def test_two_celery_workers_embed_the_partitions_as_one_process_does(
    settings, mongo_db, mongo_uri, article_pages_dir, tmp_path
) -> None:
    import airflow_client.client as af
    from airflow_local import api_client, failure_report, local_airflow, trigger_dag, wait_for_run

    from ragdag.features.pipeline import embed_validated_documents

    ids = _seed(mongo_db, _paragraphs(article_pages_dir))
    reference = settings.model_copy(update={"data_dir": tmp_path / "reference", "embedding_partitions": PARTITIONS})
    _share_export_cache(reference.data_dir)
    expected_report = embed_validated_documents(reference, "reference")
    expected = _contents(reference)
    assert expected_report.documents_embedded == len(ids) and len(expected) > len(ids)

    data_dir = tmp_path / "airflow-data"
    _share_export_cache(data_dir)
    with local_airflow(
        data_dir,
        mongo_uri=mongo_uri,
        home=tmp_path / "airflow-home",
        executor="celery",
        celery_workers=2,
        dag_ids=("embed_documents",),
        extra_env={
            "RAGDAG_MONGO_DATABASE": settings.mongo_database,
            "RAGDAG_EMBEDDING_PARTITIONS": str(PARTITIONS),
            "RAGDAG_EMBEDDING_MIN_PARTITION_CHUNKS": "1",  # a few pages: spread them anyway
        },
        timeout_s=STARTUP_TIMEOUT_S,
    ) as airflow:
        assert airflow.workers == ["worker-1", "worker-2"]
        with api_client(airflow) as client:
            run_id = trigger_dag(client, "embed_documents", note="celery e2e").dag_run_id
            run = wait_for_run(client, "embed_documents", run_id, RUN_TIMEOUT_S)
            assert str(getattr(run.state, "value", run.state)) == "success", failure_report(
                client, "embed_documents", run_id
            )
            tis = af.TaskInstanceApi(client).get_task_instances("embed_documents", run_id).task_instances

    encodes = [ti for ti in tis if ti.task_id == "encode"]
    assert len(encodes) == PARTITIONS
    assert {ti.queue for ti in encodes} == {"embedding"}
    assert {ti.hostname for ti in encodes} == {"worker-1", "worker-2"}, [(ti.map_index, ti.hostname) for ti in encodes]
    assert {ti.hostname for ti in tis} <= {"worker-1", "worker-2"}  # every task ran on a Celery worker

    actual = _contents(settings.model_copy(update={"data_dir": data_dir}))
    assert actual.keys() == expected.keys()
    for point_id, (document_hash, chunk_hash, vector) in expected.items():
        assert actual[point_id][:2] == (document_hash, chunk_hash)
        assert np.allclose(actual[point_id][2], vector, atol=1e-5, rtol=0)
