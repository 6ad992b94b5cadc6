"""Dataset versions built by the tests themselves, in the datasets stage's layout, from real text.

The text is the sample site's pages (``include/sample_site``): one SFT sample per paragraph, the
instruction from the page's title and section heading, the answer the author's own paragraph;
preference pairs take another paragraph's opening as the weaker answer. One page is the test split.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from ragdag.datasets.layout import LATEST_KEY, manifest_key, preference_key, sft_key
from ragdag.stores.object_store import open_object_store

SAMPLE_SITE = Path(__file__).resolve().parents[2] / "include" / "sample_site"
AUTHOR = "Jane Doe"


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def page_samples(page: Path) -> list[dict]:
    """(instruction, output) for each paragraph of the page's article, with metadata."""
    body = page.read_text(encoding="utf-8")
    article = re.search(r"<article>(.*?)</article>", body, re.S).group(1)
    title = _text(re.search(r"<h1>(.*?)</h1>", article, re.S).group(1))
    section = title
    rows = []
    for tag, inner in re.findall(r"<(h2|p)(?: [^>]*)?>(.*?)</\1>", article, re.S):
        text = _text(inner)
        if tag == "h2":
            section = text
        elif len(text.split()) >= 12:
            instruction = (
                f"Write the opening of the article “{title}”."
                if section == title
                else f"Explain “{section}”, as in the article “{title}”."
            )
            if any(r["instruction"] == instruction for r in rows):
                instruction = f"Continue the article “{title}” on “{section}”: {text.split('.')[0]}."
            rows.append(
                {
                    "instruction": instruction,
                    "output": text,
                    "document_id": page.stem,
                    "author_full_name": AUTHOR,
                    "category": "articles",
                }
            )
    return rows


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def preference_pairs(rows: list[dict]) -> list[dict]:
    """chosen = the author's paragraph; rejected = the next paragraph's first sentence (weaker, off-topic)."""
    pairs = []
    for i, row in enumerate(rows):
        other = rows[(i + 1) % len(rows)]["output"]
        pairs.append(
            {
                "prompt": row["instruction"],
                "chosen": row["output"],
                "rejected": other.split(". ")[0] + ".",
                "document_id": row["document_id"],
            }
        )
    return pairs


def publish_fixture_version(
    settings, *, preference: bool = True, test_page: str = "data-validation", tag: str = "", make_latest: bool = True
) -> dict:
    """Write a complete version (data files, then the manifest, then LATEST); return the manifest."""
    samples = {p.stem: page_samples(p) for p in sorted(SAMPLE_SITE.glob("*.html"))}
    train = [r for stem, rows in samples.items() if stem != test_page for r in rows]
    test = samples[test_page]
    files = {sft_key("V", "train"): _jsonl(train), sft_key("V", "test"): _jsonl(test)}
    if preference:
        files[preference_key("V", "train")] = _jsonl(preference_pairs(train))
        files[preference_key("V", "test")] = _jsonl(preference_pairs(test))
    digest = hashlib.sha256(b"".join(files.values()) + tag.encode()).hexdigest()[:16]
    version = f"v-{digest}"
    store = open_object_store(settings)
    uris = {}
    for key, data in files.items():
        real_key = key.replace("/V/", f"/{version}/")
        uris[real_key] = store.put_bytes(real_key, data)
    manifest = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "train_samples": len(train),
        "test_samples": len(test),
        "test_share": 0.33,
        "seed": 42,
        "train_uri": store.uri(sft_key(version, "train")),
        "test_uri": store.uri(sft_key(version, "test")),
        "manifest_uri": store.uri(manifest_key(version)),
        "source_documents": {stem: hashlib.sha256(stem.encode()).hexdigest() for stem in samples},
        "embedding_models": [settings.embedding_model_id],
        "built_by_run_id": "fixture",
        "code_version": "test",
        "published": True,
    }
    if preference:
        manifest["preference_train_uri"] = store.uri(preference_key(version, "train"))
        manifest["preference_test_uri"] = store.uri(preference_key(version, "test"))
    store.put_bytes(manifest_key(version), json.dumps(manifest, indent=2).encode("utf-8"))
    if make_latest:
        store.put_bytes(LATEST_KEY, version.encode())
    return manifest


def write_channels(root: Path, *, preference: bool = True) -> dict[str, Path]:
    """The version's files as SageMaker channels on disk (for running train.py directly)."""
    samples = {p.stem: page_samples(p) for p in sorted(SAMPLE_SITE.glob("*.html"))}
    train = [r for stem, rows in samples.items() if stem != "data-validation" for r in rows]
    test = samples["data-validation"]
    channels = {"train": root / "train", "test": root / "test"}
    for path in channels.values():
        path.mkdir(parents=True)
    (channels["train"] / "train.jsonl").write_bytes(_jsonl(train))
    (channels["test"] / "test.jsonl").write_bytes(_jsonl(test))
    if preference:
        channels["preference"] = root / "preference"
        channels["preference"].mkdir()
        (channels["preference"] / "train.jsonl").write_bytes(_jsonl(preference_pairs(train)))
        (channels["preference"] / "test.jsonl").write_bytes(_jsonl(preference_pairs(test)))
    return channels
