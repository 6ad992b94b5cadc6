"""The offline generator's samples in a real built version (the demo corpus, tests/datasets/conftest.py):
no instruction quotes its answer, code answers are whole lines of their file, verbatim, and
headings and questions come from the documents themselves."""

from __future__ import annotations

import json
import re

import pytest

from ragdag.datasets import layout
from ragdag.datasets.publish import publish_instruct_dataset
from ragdag.features.cleaning import clean_document
from ragdag.stores.object_store import open_object_store

pytestmark = pytest.mark.slow  # embeds the demo corpus once per session

RUN_WORDS = 8  # an instruction sharing this many consecutive words with its answer quotes it


def _samples(settings) -> list[dict]:
    manifest = publish_instruct_dataset(settings, run_id="run-1").manifest
    store = open_object_store(settings)
    return [
        json.loads(line)
        for split in layout.SPLITS
        for line in store.get_bytes(layout.sft_key(manifest.version, split)).decode().splitlines()
    ]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _quoted_runs(instruction: str, answer: str) -> list[str]:
    asked = f" {' '.join(_words(instruction))} "
    words = _words(answer)
    runs = (" ".join(words[i : i + RUN_WORDS]) for i in range(len(words) - RUN_WORDS + 1))
    return [run for run in runs if f" {run} " in asked]


def test_no_instruction_contains_its_answer(settings, mongo_db, demo_chunks) -> None:
    samples = _samples(settings)
    assert len(samples) >= 40
    quoting = {s["extract_id"]: _quoted_runs(s["instruction"], s["output"])[:1] for s in samples}
    assert not {k: v for k, v in quoting.items() if v}, "instructions quoting their answer"


def test_code_answers_are_whole_lines_of_their_file_verbatim(settings, mongo_db, demo_chunks) -> None:
    samples = _samples(settings)
    [repository] = list(mongo_db.repositories.find())
    files = {f["path"]: f["content"] for f in repository["files"]}
    code = [s for s in samples if s["category"] == "repositories"]
    assert len(code) >= 15
    for sample in code:
        answer = sample["output"]
        places = [(path, content.find(answer)) for path, content in files.items() if answer in content]
        assert places, f"not verbatim in any file: {sample['extract_id']} {answer[:60]!r}"
        path, start = places[0]
        end = start + len(answer)
        content = files[path]
        assert start == 0 or content[start - 1] == "\n", f"starts mid-line: {answer[:60]!r}"
        assert end == len(content) or content[end] == "\n", f"ends mid-line: {answer[-60:]!r}"
    python = [s for s in code if s["instruction_kind"] in ("definition", "members")]
    assert len(python) >= len(code) // 2, "most code answers start at a definition"
    for sample in python:
        first = next(line for line in sample["output"].split("\n") if not line.lstrip().startswith(("#", "@")))
        assert re.match(r"\s*(async def|def|class) ", first), first


def test_sections_and_questions_come_from_the_documents(settings, mongo_db, demo_chunks) -> None:
    samples = _samples(settings)
    # Answers are the cleaned text (the feature stage's), which is what the chunks hold.
    documents = [*mongo_db.articles.find(), *mongo_db.posts.find()]
    contents = {str(d["_id"]): clean_document(d).text for d in documents}
    for sample in samples:
        if sample["instruction_kind"] in ("section", "continue_section"):
            heading = re.search(r"“([^”]+)”", sample["instruction"]).group(1)
            marked = re.search(rf"(?m)^#{{1,6}}[ \t]+{re.escape(heading)}[ \t]*$", contents[sample["document_id"]])
            assert marked, f"“{heading}” is not a heading of the page"
        if sample["instruction_kind"] in ("question", "post_question"):
            flat = " ".join(contents[sample["document_id"]].split())
            answer = " ".join(sample["output"].split())
            assert answer in flat, f"not in the document: {answer[:60]!r}"
            assert flat[: flat.index(answer)].rstrip().endswith("?"), "the answer is what follows the question"
    assert sum(s["instruction_kind"] == "question" for s in samples) >= 1
