"""A cache of model generations in the object store, keyed by what they were made from.

A generation (an LLM's instruction–answer pairs for one extract, a base model's answer to one
instruction) is a JSON object stored under the sha256 of its *kind* and its named *parts*: the
extract's hash, the prompt version, the model, the generation parameters. The same parts give the
same key on every machine, so a rebuild asks the model only for what changed, and the same inputs
give the same dataset version even at a temperature above 0. The layout of the keys belongs to
:mod:`ragdag.datasets.layout`.

Each entry keeps its parts next to its value, so an entry can be read and audited on its own; an
entry that does not parse, or whose parts differ from the ones asked for, is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from ragdag.datasets import layout
from ragdag.settings import Settings
from ragdag.stores.object_store import LocalObjectStore, ObjectStore, open_object_store

log = logging.getLogger(__name__)

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
Parts = Mapping[str, Any]


def _canonical(kind: str, parts: Parts) -> str:
    if not _KIND.match(kind):
        raise ValueError(f"cache kind {kind!r} must be a lower-case slug (letters, digits, '-', '_')")
    return json.dumps({"kind": kind, "parts": dict(parts)}, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cache_digest(kind: str, parts: Parts) -> str:
    """The sha256 of ``kind`` and ``parts`` (JSON values, compared by value, key order ignored)."""
    return hashlib.sha256(_canonical(kind, parts).encode()).hexdigest()


class GenerationCache:
    """``get`` / ``put`` of JSON objects by (kind, parts); counts its hits and misses."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def key(self, kind: str, parts: Parts) -> str:
        return layout.generation_cache_key(kind, cache_digest(kind, parts))

    def get(self, kind: str, parts: Parts) -> dict[str, Any] | None:
        """The value stored for these parts, or None."""
        key = self.key(kind, parts)
        value: dict[str, Any] | None = None
        if self.store.exists(key):
            try:
                entry = json.loads(self.store.get_bytes(key))
                if entry.get("kind") == kind and entry.get("parts") == json.loads(_canonical(kind, parts))["parts"]:
                    value = entry["value"]
                else:
                    log.warning("generation cache: %s holds other parts; treated as a miss", key)
            except (ValueError, KeyError, AttributeError):
                log.warning("generation cache: %s does not parse; treated as a miss", key)
        with self._lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        return value

    def put(self, kind: str, parts: Parts, value: Mapping[str, Any]) -> str:
        """Store ``value`` (a JSON object) for these parts; the key it went to."""
        key = self.key(kind, parts)
        entry = {"kind": kind, "parts": json.loads(_canonical(kind, parts))["parts"], "value": dict(value)}
        self.store.put_bytes(key, json.dumps(entry, sort_keys=True, ensure_ascii=False, allow_nan=False).encode())
        return key

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"cache_hits": self.hits, "cache_misses": self.misses}


def open_generation_cache(settings: Settings) -> GenerationCache:
    """The cache of this platform: ``RAGDAG_DATASET_GENERATION_CACHE_DIR`` if set, else the object store."""
    folder = settings.dataset_generation_cache_dir
    return GenerationCache(LocalObjectStore(folder) if folder else open_object_store(settings))
