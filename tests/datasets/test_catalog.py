"""``ragdag datasets list | show | diff`` and the catalog functions behind them (also the UI's)."""

from __future__ import annotations

import json

import pytest
from chunk_fixtures import seed_chunks

from ragdag.cli import main
from ragdag.datasets import layout
from ragdag.datasets.catalog import diff_versions, list_versions, show_version
from ragdag.datasets.publish import publish_instruct_dataset
from ragdag.stores.object_store import open_object_store


@pytest.fixture
def two_versions(tiny_split_settings, mongo_db):
    settings = tiny_split_settings
    seed_chunks(settings, documents=6)
    first = publish_instruct_dataset(settings, run_id="run-1").manifest
    seed_chunks(settings, documents=8)  # two more documents
    second = publish_instruct_dataset(settings, run_id="run-2").manifest
    return first, second


def test_list_show_and_diff_the_published_versions(settings, two_versions) -> None:
    first, second = two_versions
    assert [m.version for m in list_versions(settings)] == [second.version, first.version]

    latest = show_version(settings, "latest")
    assert latest.manifest.version == second.version and latest.is_latest
    assert latest.card.startswith("---\nlicense: other") and set(latest.files_intact.values()) == {True}
    assert not show_version(settings, first.version).is_latest

    diff = diff_versions(settings, first.version, "latest")
    assert len(diff.documents_added) == 2 and diff.documents_removed == diff.documents_changed == []
    assert diff.samples["train"]["a"] == first.train_samples and diff.samples["train"]["b"] == second.train_samples
    assert diff.samples["test"]["delta"] == second.test_samples - first.test_samples
    assert diff.generator == {"a": "offline", "b": "offline"}
    with pytest.raises(LookupError, match="no dataset version 'v-nope'"):
        show_version(settings, "v-nope")


def test_show_detects_a_file_changed_after_publication(settings, two_versions) -> None:
    first, _ = two_versions
    store = open_object_store(settings)
    store.put_bytes(layout.sft_key(first.version, "test"), b'{"instruction": "tampered"}\n')
    assert show_version(settings, first.version).files_intact[layout.TEST_FILE] is False


def test_the_cli_prints_the_same(settings, two_versions, capsys) -> None:
    first, second = two_versions
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index(second.version) < out.index(first.version)
    assert main(["datasets", "show", "latest"]) == 0
    out = capsys.readouterr().out
    assert f"version {second.version} (latest)" in out and "filter near_duplicates" in out
    assert "files: all checksums match" in out and "# ragdag instruct dataset" in out
    assert main(["datasets", "diff", first.version, second.version, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["documents_added"]) == 2
    assert main(["datasets", "show", "v-missing"]) == 1
    assert "no dataset version 'v-missing'" in capsys.readouterr().out
