from __future__ import annotations

import pymongo
import pytest

from ragdag.stores import embedded_mongo
from ragdag.stores.mongo import DOCUMENT_COLLECTIONS


def test_indexes_make_url_unique(mongo_db) -> None:
    for name in DOCUMENT_COLLECTIONS:
        mongo_db[name].insert_one({"_id": "a", "url": "https://x.test/a"})
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            mongo_db[name].insert_one({"_id": "b", "url": "https://x.test/a"})


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


def test_start_refuses_a_taken_port(tmp_path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(RuntimeError, match="RAGDAG_EMBEDDED_MONGO_PORT"):
            embedded_mongo.start(tmp_path, sock.getsockname()[1])
