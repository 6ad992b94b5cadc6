from __future__ import annotations

import pymongo
import pytest

from ragdag.documents import DOCUMENT_COLLECTIONS
from ragdag.stores import embedded_mongo


def test_indexes_make_url_unique(mongo_db) -> None:
    for name in DOCUMENT_COLLECTIONS:
        mongo_db[name].insert_one({"_id": "a", "url": "https://x.test/a"})
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            mongo_db[name].insert_one({"_id": "b", "url": "https://x.test/a"})


def _indexed_fields(collection) -> dict[tuple[str, ...], str]:
    # By fields: nx-27017 names indexes its own way and keeps no direction.
    return {tuple(field for field, _ in info["key"]): name for name, info in collection.index_information().items()}


def test_queried_collections_have_their_indexes_made_once_per_process(settings) -> None:
    from ragdag.stores.mongo import AUDIT_TRAIL, MODEL_REGISTRY, RUNS, create_indexes, mongo_database

    by_stage = ("stage", "started_at")
    with mongo_database(settings) as db:
        assert {by_stage, ("run_id", "started_at")} <= set(_indexed_fields(db[RUNS]))
        assert ("stage",) in _indexed_fields(db[MODEL_REGISTRY])
        assert ("at",) in _indexed_fields(db[AUDIT_TRAIL])
        db[RUNS].drop_index(_indexed_fields(db[RUNS])[by_stage])
    try:
        with mongo_database(settings) as db:
            # A later open of the same database makes no index: the dropped one stays dropped.
            assert by_stage not in _indexed_fields(db[RUNS])
            create_indexes(db)
            assert by_stage in _indexed_fields(db[RUNS])
    finally:
        with mongo_database(settings) as db:
            db.client.drop_database(db.name)


def test_embedded_server_keeps_data_across_restart(tmp_path) -> None:
    port = embedded_mongo.free_port()
    server = embedded_mongo.start(tmp_path, port)
    assert embedded_mongo.start(tmp_path, port).pid == server.pid  # idempotent
    with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
        client.ragdag.things.insert_one({"_id": 1, "kept": True})
    assert embedded_mongo.stop(tmp_path)
    assert not embedded_mongo.status(tmp_path).running
    server = embedded_mongo.start(tmp_path, port)
    try:
        with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
            assert client.ragdag.things.find_one({"_id": 1}) == {"_id": 1, "kept": True}
    finally:
        embedded_mongo.stop(tmp_path)


def test_start_moves_to_a_free_port_when_its_port_is_taken(tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        server = embedded_mongo.start(tmp_path, taken)
        try:
            assert server.running and server.port != taken
            assert embedded_mongo.status(tmp_path).port == server.port
            with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
                assert client.admin.command("ping")["ok"] == 1
        finally:
            embedded_mongo.stop(tmp_path)
