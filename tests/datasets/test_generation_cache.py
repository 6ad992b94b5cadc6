"""The generation cache: values come back for the same parts, from a fresh cache on the same store."""

from __future__ import annotations

import json

import pytest

from ragdag.datasets import layout
from ragdag.datasets.generation_cache import GenerationCache
from ragdag.stores.object_store import LocalObjectStore

PARTS = {"extract_sha256": "ab" * 32, "prompt_version": "instruct_pairs.v2+1234", "model": "m", "seed": 42}


def test_a_put_value_comes_back_from_another_cache_on_the_same_store(tmp_path) -> None:
    store = LocalObjectStore(tmp_path)
    first = GenerationCache(store)
    assert first.get("llm-pairs", PARTS) is None
    key = first.put("llm-pairs", PARTS, {"pairs": [{"instruction": "Why?", "answer": "Because."}]})

    assert key.startswith(f"{layout.GENERATION_CACHE_PREFIX}/llm-pairs/")
    again = GenerationCache(LocalObjectStore(tmp_path))
    assert again.get("llm-pairs", dict(reversed(PARTS.items()))) == {
        "pairs": [{"instruction": "Why?", "answer": "Because."}]
    }
    assert first.stats() == {"cache_hits": 0, "cache_misses": 1}
    assert again.stats() == {"cache_hits": 1, "cache_misses": 0}


@pytest.mark.parametrize(
    ("kind", "parts"),
    [
        ("llm-pairs", {**PARTS, "seed": 43}),
        ("llm-pairs", {**PARTS, "model": "other"}),
        ("llm-pairs", {k: v for k, v in PARTS.items() if k != "seed"}),
        ("base-rejected", PARTS),
    ],
)
def test_any_other_part_or_kind_is_a_miss(tmp_path, kind, parts) -> None:
    cache = GenerationCache(LocalObjectStore(tmp_path))
    cache.put("llm-pairs", PARTS, {"pairs": []})
    assert cache.get(kind, parts) is None


def test_an_entry_that_does_not_parse_or_holds_other_parts_is_a_miss(tmp_path) -> None:
    store = LocalObjectStore(tmp_path)
    cache = GenerationCache(store)
    key = cache.put("llm-pairs", PARTS, {"pairs": []})
    store.put_bytes(key, b"{not json")
    assert cache.get("llm-pairs", PARTS) is None
    store.put_bytes(key, json.dumps({"kind": "llm-pairs", "parts": {"model": "x"}, "value": {}}).encode())
    assert cache.get("llm-pairs", PARTS) is None


def test_a_kind_must_be_a_slug_and_parts_json(tmp_path) -> None:
    cache = GenerationCache(LocalObjectStore(tmp_path))
    with pytest.raises(ValueError, match="slug"):
        cache.get("../escape", PARTS)
    with pytest.raises(TypeError):
        cache.put("llm-pairs", {"when": object()}, {})
