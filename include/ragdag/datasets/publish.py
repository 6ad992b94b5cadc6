"""Build and publish a versioned instruct dataset (SFT + preference JSONL, card, manifest).

The stage, in order: the trigger gate (enough new or changed documents since the last version?),
extracts from the embedded chunks, a generator (``offline`` or ``llm``), the filters, the split by
document, decontamination, preference pairs, the quality gate (GX), then the files of the version
(layout: :mod:`ragdag.datasets.layout`), the manifest last and ``LATEST``.

A version is named by the hash of its data files, so the same inputs and settings give the same
version, byte for byte, on every machine (no clock in the data files; ``created_at`` is only in
the manifest); an existing version is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ragdag.datasets import layout
from ragdag.datasets.card import render_card
from ragdag.datasets.changes import ContentChanges, build_decision, content_changes
from ragdag.datasets.extracts import group_extracts
from ragdag.datasets.filters import FilterConfig, FilterCount, apply_filters
from ragdag.datasets.generation_cache import open_generation_cache
from ragdag.datasets.instruct import decontaminate, held_out_documents
from ragdag.datasets.offline import GENERATOR_VERSION, generate_offline
from ragdag.datasets.preference import length_bias, preference_pairs
from ragdag.datasets.quality import (
    DatasetQualityFailed,
    QualityReport,
    check_samples,
    failure_message,
    load_sample_suite,
    save_quality_report,
)
from ragdag.datasets.records import Extract, GeneratedSample, PreferencePair, SftSample
from ragdag.documents import DOCUMENT_COLLECTIONS
from ragdag.errors import PermanentError
from ragdag.models import Category
from ragdag.observability.run_records import record_stage_report
from ragdag.settings import Settings
from ragdag.stages import Stage
from ragdag.stores.mongo import mongo_database
from ragdag.stores.object_store import ObjectStore, open_object_store
from ragdag.text_safety import count_masks, mask_text, sorted_counts

log = logging.getLogger(__name__)


class SourceDocument(BaseModel):
    content_hash: str
    category: str | None = None
    url: str | None = None
    title: str | None = None
    author_full_name: str | None = None
    validation_run_id: str | None = None
    validation_suite_version: int | None = None


class GenerationInfo(BaseModel):
    generator: str
    generator_version: str
    prompt_version: str | None = None
    model: str | None = None
    temperature: float | None = None
    tokens: dict[str, int] = {}
    token_budget: int | None = None
    budget_exhausted: bool = False
    calls: int = 0
    retries: int = 0
    malformed_replies: int = 0
    failed_requests: int = 0
    stats: dict[str, int] = {}
    rejected: dict[str, Any] = {}  # who wrote the preference pairs' rejected side, and the length bias left


class DatasetManifest(BaseModel):
    version: str
    created_at: datetime
    train_samples: int
    test_samples: int
    test_share: float
    seed: int
    train_uri: str
    test_uri: str
    manifest_uri: str
    source_documents: dict[str, str]  # document id -> content hash (lineage)
    embedding_models: list[str]
    built_by_run_id: str
    code_version: str
    published: bool  # False when this exact version already existed
    preference_train_uri: str | None = None
    preference_test_uri: str | None = None
    preference_train_samples: int = 0
    preference_test_samples: int = 0
    card_uri: str | None = None
    files: dict[str, str] = {}  # file name in the version -> sha256
    documents: dict[str, SourceDocument] = {}
    extracts: int = 0
    generation: GenerationInfo | None = None
    filters: list[FilterCount] = []
    # Placeholders by kind (email, phone, card, iban, ssn, secret:<type>) in the version's rows, each
    # distinct text once, whichever stage masked them (the feature stage or the pii filter).
    masked: dict[str, int] = {}
    decontamination: dict[str, Any] = {}
    split: dict[str, Any] = {}  # how the test split was drawn, its documents and the minimum it had to reach
    quality: QualityReport | None = None
    validation_run_ids: list[str] = []  # validate_documents runs that accepted the source documents
    settings: dict[str, Any] = {}
    config_hash: str | None = None
    changes: ContentChanges | None = None
    drift: dict[str, Any] | None = None  # the newest embed run's drift measurement, when there is one


class BuildConf(BaseModel):
    """The REST / UI ``conf`` of a build_instruct_dataset run."""

    model_config = ConfigDict(extra="forbid", strict=True)

    force: bool = False  # build even when too little content changed


class NoEmbeddedChunks(PermanentError, RuntimeError):
    """The feature store holds no chunk to build from: run embed_documents first."""


class NoDatasetVersion(PermanentError, LookupError):
    """No complete instruct dataset version where one was asked for: build one, or name one that exists."""


class InvalidBuildConf(PermanentError, ValueError):
    """A bad ``conf``: the message names the field."""


def parse_build_conf(conf: Mapping[str, Any] | None) -> BuildConf:
    try:
        return BuildConf.model_validate(dict(conf or {}))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "conf"
        raise InvalidBuildConf(f"invalid build_instruct_dataset conf: {where}: {first['msg']}") from None


class DatasetBuild(BaseModel):
    """What one run of the stage did: a new version, an existing one, or nothing (and why)."""

    published: bool
    reason: str
    manifest: DatasetManifest | None = None
    changes: ContentChanges | None = None
    latest_changed: bool = False  # LATEST now names another version (new, or an older one again)

    def summary(self) -> dict[str, Any]:
        """Small and JSON-safe: the task's XCom and the Asset event's extra."""
        m = self.manifest
        counts = (
            {}
            if m is None
            else {
                "version": m.version,
                "train_samples": m.train_samples,
                "test_samples": m.test_samples,
                "preference_train_samples": m.preference_train_samples,
                "preference_test_samples": m.preference_test_samples,
                "manifest_uri": m.manifest_uri,
            }
        )
        return {"published": self.published, "latest_changed": self.latest_changed, "reason": self.reason, **counts}


def _read_chunks(settings: Settings) -> list[dict[str, Any]]:
    """Every chunk payload in the feature store (its owner, vector_store, knows the layout)."""
    from ragdag.features.vector_store import read_chunk_payloads

    return read_chunk_payloads(settings)


def _documents(settings: Settings, hashes: Mapping[str, str]) -> dict[str, SourceDocument]:
    found: dict[str, SourceDocument] = {}
    fields = {"title": 1, "url": 1, "category": 1, "author_full_name": 1, "validation": 1}
    with mongo_database(settings) as db:
        for name in DOCUMENT_COLLECTIONS:
            for doc in db[name].find({"_id": {"$in": sorted(hashes)}}, fields):
                validation = doc.get("validation") or {}
                found[str(doc["_id"])] = SourceDocument(
                    content_hash=hashes[str(doc["_id"])],
                    category=doc.get("category"),
                    url=doc.get("url"),
                    # Titles become instructions and row fields: masked like the text (ragdag.text_safety).
                    title=mask_text(doc["title"]).text if doc.get("title") else doc.get("title"),
                    author_full_name=doc.get("author_full_name"),
                    validation_run_id=validation.get("run_id"),
                    validation_suite_version=validation.get("suite_version"),
                )
    for doc_id, digest in hashes.items():
        found.setdefault(doc_id, SourceDocument(content_hash=digest))
    return dict(sorted(found.items()))


def dataset_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape a version's content (their hash is the manifest's ``config_hash``)."""
    return {
        "generator": settings.dataset_generator,
        "extract_min_chars": settings.dataset_extract_min_chars,
        "extract_max_chars": settings.dataset_extract_max_chars,
        "min_answer_tokens": settings.dataset_min_answer_tokens,
        "max_answer_tokens": settings.dataset_max_answer_tokens,
        "near_duplicate_threshold": settings.dataset_near_duplicate_threshold,
        "max_boilerplate_share": settings.dataset_max_boilerplate_share,
        "decontamination_ngram": settings.dataset_decontamination_ngram,
        "min_distinct_instruction_share": settings.dataset_min_distinct_instruction_share,
        "allowed_languages": sorted(settings.allowed_languages),
        "test_share": settings.dataset_test_share,
        "seed": settings.dataset_seed,
        "license": settings.dataset_license,
        "rejected_by": settings.dataset_rejected_by,
        "rejected_max_tokens": settings.dataset_rejected_max_tokens,
        "rejected_base": settings.training_base_model if settings.dataset_rejected_by == "base" else None,
        "llm_pairs_per_extract": settings.llm_pairs_per_extract if settings.dataset_generator == "llm" else None,
        "llm_temperature": settings.llm_temperature if settings.dataset_generator == "llm" else None,
        "llm_max_tokens": settings.llm_max_tokens if settings.dataset_generator == "llm" else None,
    }


def config_hash(settings: Settings) -> str:
    _, suite_version = load_sample_suite(settings)
    payload = {
        "settings": dataset_settings(settings),
        "generator_version": GENERATOR_VERSION,
        "suite_version": suite_version,
    }
    if settings.dataset_generator == "llm":
        from ragdag.datasets.llm_generator import prompt_version

        payload["prompt_version"] = prompt_version()
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# --- generators: one interface, chosen by RAGDAG_DATASET_GENERATOR ---------------------------

Generator = Callable[[Settings, Sequence[Extract]], tuple[list[GeneratedSample], GenerationInfo]]


def _offline(settings: Settings, extracts: Sequence[Extract]) -> tuple[list[GeneratedSample], GenerationInfo]:
    samples = generate_offline(extracts)
    return samples, GenerationInfo(
        generator="offline",
        generator_version=GENERATOR_VERSION,
        stats={"extracts": len(extracts), "pairs": len(samples)},
    )


def _llm(settings: Settings, extracts: Sequence[Extract]) -> tuple[list[GeneratedSample], GenerationInfo]:
    from ragdag.datasets.generation_cache import open_generation_cache
    from ragdag.datasets.llm_generator import generate_with_llm, prompt_version
    from ragdag.llm_client import open_llm_client

    cache = open_generation_cache(settings)
    with open_llm_client(settings) as client:
        samples, stats = generate_with_llm(extracts, client, cache, pairs_per_extract=settings.llm_pairs_per_extract)
        usage = client.usage
        info = GenerationInfo(
            generator="llm",
            generator_version=GENERATOR_VERSION,
            prompt_version=prompt_version(),
            model=client.model,
            temperature=client.temperature,
            tokens={
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
            token_budget=client.token_budget,
            budget_exhausted=usage.budget_exhausted,
            calls=usage.calls,
            retries=usage.retries,
            malformed_replies=usage.malformed,
            failed_requests=usage.failed,
            stats=stats,
        )
    if stats["extracts_malformed"] or stats["pairs_passage_not_in_extract"]:
        log.warning("llm generator: %s", stats)
    return samples, info


GENERATORS: Mapping[str, Generator] = {"offline": _offline, "llm": _llm}


# --- the build -------------------------------------------------------------------------------


def _jsonl(rows: Sequence[BaseModel]) -> bytes:
    return "".join(row.model_dump_json() + "\n" for row in rows).encode("utf-8")


def _code_version() -> str:
    """The git SHA where known, else the package version and a hash of its code (run_records)."""
    from ragdag.observability.run_records import code_version

    version = code_version()
    return version.git_sha or f"{version.package_version}+{version.package_hash}"


def _latest_drift(settings: Settings) -> dict[str, Any] | None:
    """The drift the newest embed run measured (features.drift), kept with the version it led to."""
    from ragdag.features.drift import latest_drift

    return latest_drift(settings)


def _preference_splits(
    settings: Settings,
    store: ObjectStore,
    train_items: Sequence[GeneratedSample],
    test_items: Sequence[GeneratedSample],
) -> tuple[list[PreferencePair], list[PreferencePair], dict[str, Any]]:
    """Preference pairs of both splits, the rejected side written by the base model (masked like
    every other text of the version), and what it took (for the manifest and the card)."""
    from ragdag.datasets.base_answers import base_answers

    items = [*train_items, *test_items]
    made = base_answers(
        settings, open_generation_cache(settings), [i.sample.instruction for i in items], [i.chosen for i in items]
    )
    rejected = [mask_text(a, code=i.sample.category == Category.REPOSITORIES).text for i, a in zip(items, made.answers)]
    split = len(train_items)
    pref_train = preference_pairs(train_items, rejected[:split], made.model)
    pref_test = preference_pairs(test_items, rejected[split:], made.model)
    info = {
        "model": made.model,
        "engine": made.engine,
        "generated": made.generated,
        "cache_hits": made.cache_hits,
        "max_tokens": settings.dataset_rejected_max_tokens,
        "pairs": len(pref_train) + len(pref_test),
        "without_pair": len(items) - len(pref_train) - len(pref_test),
        "length": length_bias([*pref_train, *pref_test]),
    }
    return pref_train, pref_test, info


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def latest_manifest(settings: Settings) -> DatasetManifest | None:
    store = open_object_store(settings)
    if not store.exists(layout.LATEST_KEY):
        return None
    return load_manifest(settings, store.get_bytes(layout.LATEST_KEY).decode().strip())


def _filter_config(settings: Settings) -> FilterConfig:
    return FilterConfig(
        min_answer_tokens=settings.dataset_min_answer_tokens,
        max_answer_tokens=settings.dataset_max_answer_tokens,
        allowed_languages=tuple(lang.split("-")[0].lower() for lang in settings.allowed_languages),
        max_boilerplate_share=settings.dataset_max_boilerplate_share,
        near_duplicate_threshold=settings.dataset_near_duplicate_threshold,
    )


def _detect_language(text: str) -> str | None:
    from ragdag.crawling.extraction.language import detect_language

    return detect_language(text)


def masked_in_rows(sft: Sequence[SftSample], pairs: Sequence[PreferencePair]) -> dict[str, int]:
    """What is masked in these rows by kind, each distinct text counted once (``chosen`` is
    often the SFT ``output`` again)."""
    texts = {text for row in sft for text in (row.instruction, row.output)}
    texts |= {text for pair in pairs for text in (pair.prompt, pair.chosen, pair.rejected)}
    total: Counter[str] = Counter()
    for text in texts:
        total.update(count_masks(text))
    return sorted_counts(total)


def publish_instruct_dataset(settings: Settings, run_id: str, *, force: bool = False) -> DatasetBuild:
    """Run the stage; raises :class:`DatasetQualityFailed` when the new samples fail the suite."""
    chunks = _read_chunks(settings)
    if not chunks:
        raise NoEmbeddedChunks("no embedded chunks in Qdrant: run embed_documents first")
    hashes = {str(c["document_id"]): str(c["content_hash"]) for c in chunks}
    previous = latest_manifest(settings)
    wanted_config = config_hash(settings)
    changes = content_changes(
        previous.version if previous else None,
        previous.source_documents if previous else None,
        hashes,
        settings_changed=previous is not None and previous.config_hash != wanted_config,
    )
    build, reason = build_decision(changes, settings.dataset_min_changed_documents)
    if not build and not force:
        log.info("no new dataset version: %s", reason)
        return DatasetBuild(published=False, reason=reason, manifest=previous, changes=changes)

    documents = _documents(settings, hashes)
    titles = {doc_id: doc.title for doc_id, doc in documents.items()}
    extracts = group_extracts(
        chunks, titles, min_chars=settings.dataset_extract_min_chars, max_chars=settings.dataset_extract_max_chars
    )
    generated, generation = GENERATORS[settings.dataset_generator](settings, extracts)
    kept, filter_counts = apply_filters(generated, _filter_config(settings), detect_language=_detect_language)

    held_out = held_out_documents([g.sample for g in kept], settings.dataset_test_share)
    train_items = [g for g in kept if g.sample.document_id not in held_out]
    test_candidates = [g for g in kept if g.sample.document_id in held_out]
    clean_test, dropped = decontaminate(
        [g.sample for g in train_items], [g.sample for g in test_candidates], settings.dataset_decontamination_ngram
    )
    dropped_ids = {s.extract_id for s in dropped}
    test_items = [g for g in test_candidates if g.sample.extract_id not in dropped_ids]
    train = [g.sample for g in train_items]
    test = clean_test

    store = open_object_store(settings)
    quality, gx_result = check_samples(settings, train, test, run_id, _detect_language)
    quality = save_quality_report(store, quality, gx_result)
    if not quality.success:
        error = DatasetQualityFailed(failure_message(quality))
        error.report = quality
        raise error
    # The rejected side is the base model's own answer: asked only once the samples passed the gate.
    pref_train, pref_test, rejected_info = _preference_splits(settings, store, train_items, test_items)

    data = {
        layout.TRAIN_FILE: _jsonl(train),
        layout.TEST_FILE: _jsonl(test),
        layout.PREFERENCE_TRAIN_FILE: _jsonl(pref_train),
        layout.PREFERENCE_TEST_FILE: _jsonl(pref_test),
    }
    digest = hashlib.sha256(b"\0".join(data[name] for name in sorted(data))).hexdigest()[:16]
    version = f"v-{digest}"
    if store.exists(layout.manifest_key(version)):
        existing = load_manifest(settings, version)
        store.put_bytes(layout.LATEST_KEY, version.encode())
        moved = previous is None or previous.version != version
        return DatasetBuild(
            published=False,
            reason=f"version {version} already exists (same content)" + (": LATEST names it again" if moved else ""),
            manifest=existing.model_copy(update={"published": False}),
            changes=changes,
            latest_changed=moved,
        )

    snapshot = dataset_settings(settings)
    decontamination = {
        "ngram": settings.dataset_decontamination_ngram,
        "dropped": len(dropped),
        "dropped_extract_ids": sorted(dropped_ids),
    }
    rejected_by = Counter(p.rejected_by for p in [*pref_train, *pref_test])
    generation = generation.model_copy(update={"rejected": rejected_info})
    masked = masked_in_rows([*train, *test], [*pref_train, *pref_test])
    data[layout.CARD_FILE] = render_card(
        version=version,
        counts={
            "train": len(train),
            "test": len(test),
            "preference_train": len(pref_train),
            "preference_test": len(pref_test),
        },
        documents={k: v.model_dump() for k, v in documents.items()},
        generation=generation.model_dump(),
        filters=filter_counts,
        masked=masked,
        decontamination=decontamination,
        rejected_by=dict(rejected_by),
        settings=snapshot,
    ).encode("utf-8")
    uris = {name: store.put_bytes(layout.file_key(version, name), data[name]) for name in layout.DATA_FILES}
    manifest = DatasetManifest(
        version=version,
        created_at=datetime.now(UTC),
        train_samples=len(train),
        test_samples=len(test),
        test_share=settings.dataset_test_share,
        seed=settings.dataset_seed,
        train_uri=uris[layout.TRAIN_FILE],
        test_uri=uris[layout.TEST_FILE],
        manifest_uri=store.uri(layout.manifest_key(version)),
        source_documents=dict(sorted(hashes.items())),
        embedding_models=sorted({str(c.get("embedding_model")) for c in chunks}),
        built_by_run_id=run_id,
        code_version=_code_version(),
        published=True,
        preference_train_uri=uris[layout.PREFERENCE_TRAIN_FILE],
        preference_test_uri=uris[layout.PREFERENCE_TEST_FILE],
        preference_train_samples=len(pref_train),
        preference_test_samples=len(pref_test),
        card_uri=uris[layout.CARD_FILE],
        files={name: _sha256(data[name]) for name in layout.DATA_FILES},
        documents=documents,
        extracts=len(extracts),
        generation=generation,
        filters=filter_counts,
        masked=masked,
        decontamination=decontamination,
        split={
            "by": "sha256 of the document id below test_share (stable across versions)",
            "test_share": settings.dataset_test_share,
            "test_documents": sorted({s.document_id for s in test}),
            "held_out_documents": sorted(held_out),
            "min_test_samples": settings.dataset_min_test_samples,
        },
        quality=quality,
        validation_run_ids=sorted({d.validation_run_id for d in documents.values() if d.validation_run_id}),
        settings=snapshot,
        config_hash=wanted_config,
        changes=changes,
        drift=_latest_drift(settings),
    )
    # The manifest goes last: its presence marks a complete version.
    store.put_bytes(layout.manifest_key(version), manifest.model_dump_json(indent=2).encode("utf-8"))
    store.put_bytes(layout.LATEST_KEY, version.encode())
    with mongo_database(settings) as db:
        record_stage_report(db, Stage.DATASET, run_id, json.loads(manifest.model_dump_json()), settings=settings)
    return DatasetBuild(published=True, reason=reason, manifest=manifest, changes=changes, latest_changed=True)


def build_instruct_dataset(settings: Settings, run_id: str, *, force: bool = False) -> DatasetManifest:
    """The version this run published, or the latest one when there was nothing new to build."""
    result = publish_instruct_dataset(settings, run_id, force=force)
    if result.manifest is None:
        raise NoDatasetVersion(f"no instruct dataset version: {result.reason}")
    return result.manifest if result.published else result.manifest.model_copy(update={"published": False})


def latest_dataset_version(settings: Settings) -> str:
    store = open_object_store(settings)
    if not store.exists(layout.LATEST_KEY):
        raise NoDatasetVersion("no instruct dataset published yet: run build_instruct_dataset first")
    return store.get_bytes(layout.LATEST_KEY).decode().strip()


def load_manifest(settings: Settings, version: str) -> DatasetManifest:
    store = open_object_store(settings)
    return DatasetManifest.model_validate_json(store.get_bytes(layout.manifest_key(version)))


def verify_version(store: ObjectStore, manifest: DatasetManifest) -> dict[str, bool]:
    """File name -> whether its bytes still match the manifest's sha256."""
    return {
        name: store.exists(layout.file_key(manifest.version, name))
        and _sha256(store.get_bytes(layout.file_key(manifest.version, name))) == digest
        for name, digest in manifest.files.items()
    }
