from __future__ import annotations

import pytest

from ragdag.stores.object_store import LocalObjectStore, S3ObjectStore, open_object_store


@pytest.fixture(params=["local", "s3"])
def store(request, settings):
    if request.param == "s3":
        settings = request.getfixturevalue("aws_s3_settings")
    return open_object_store(settings)


def test_round_trip_and_listing(store) -> None:
    uri = store.put_bytes("datasets/v1/train.jsonl", b'{"a": 1}\n')
    store.put_bytes("datasets/v1/test.jsonl", b"")
    store.put_bytes("models/m1/model.tar.gz", b"\x00\x01")
    assert uri == store.uri("datasets/v1/train.jsonl")
    assert store.get_bytes("datasets/v1/train.jsonl") == b'{"a": 1}\n'
    assert store.exists("datasets/v1/test.jsonl")
    assert not store.exists("datasets/v2/test.jsonl")
    assert store.list_keys("datasets/") == ["datasets/v1/test.jsonl", "datasets/v1/train.jsonl"]
    store.put_bytes("datasets/v1/train.jsonl", b"replaced")
    assert store.get_bytes("datasets/v1/train.jsonl") == b"replaced"


def test_backend_follows_the_url_scheme(settings, aws_s3_settings) -> None:
    assert isinstance(open_object_store(aws_s3_settings), S3ObjectStore)
    assert open_object_store(aws_s3_settings).uri("k").startswith("s3://")


def test_local_store_refuses_keys_outside_its_root(tmp_path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes("../outside.txt", b"x")


def test_unknown_scheme_is_a_clear_error(settings, monkeypatch) -> None:
    from ragdag.settings import get_settings

    monkeypatch.setenv("RAGDAG_OBJECT_STORE_URL", "gs://bucket/x")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        open_object_store(get_settings())
