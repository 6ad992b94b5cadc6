"""Chunking with the real all-MiniLM tokenizer: limits, overlap, boundaries, nothing lost."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from ragdag.crawling.extraction import extract_article
from ragdag.features.chunking import CHUNKING_RULES, ChunkingRule, chunk_document, chunk_texts, code_pieces
from ragdag.features.cleaning import CleanedDocument, Section, clean_article, clean_repository
from ragdag.models import Category

pytestmark = pytest.mark.slow  # loads the embedding model (once per session)

MODEL_LIMIT = 256
PAGES = ("bbc-1", "dropbox-blog", "google-sre-book-1", "qq", "rtl-1", "wikipedia-4")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def page_texts(article_pages_dir: Path) -> dict[str, str]:
    return {
        name: clean_article(
            {"content": extract_article((article_pages_dir / name / "source.html").read_bytes()).content}
        ).text
        for name in PAGES
    }


def prose(text: str) -> CleanedDocument:
    return CleanedDocument((Section(text),))


def model_length(hf_tokenizer, text: str) -> int:
    return len(hf_tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


_random = random.Random(7)  # varied, not periodic: a chunk's place in the text stays unambiguous


def _letters(count: int, alphabet: str) -> str:
    return "".join(_random.choice(alphabet) for _ in range(count))


ADVERSARIAL = {
    "unbroken token": "Intro sentence. "
    + _letters(12000, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/")
    + " Outro sentence.",
    "one long sentence": " ".join(f"word{i} and" for i in range(1500)),
    "cjk without spaces": "".join(chr(0x4E00 + _random.randrange(3000)) for _ in range(2000)) + "。结束。",
    "long lines": "\n".join(_letters(900, "xyz") for _ in range(10)),
    "mixed": "Short. " + " ".join(f"Medium sentence number {i} with some words." for i in range(80)) + " " + "é" * 3000,
}


@pytest.mark.parametrize("category", list(Category))
def test_every_chunk_fits_the_model_input(category, tokenizer, hf_tokenizer, page_texts) -> None:
    assert tokenizer.max_seq_length == MODEL_LIMIT
    for text in [*page_texts.values(), *ADVERSARIAL.values()]:
        chunks = chunk_texts(prose(text), category, tokenizer)
        assert chunks
        for chunk, count in chunks:
            checked = model_length(hf_tokenizer, chunk)
            assert checked == count, "the reported token count is the model's input length"
            assert checked <= MODEL_LIMIT


def test_repository_chunks_fit_and_carry_their_file_path(tokenizer, hf_tokenizer) -> None:
    files = [
        {"path": str(path.relative_to(REPO_ROOT)), "content": path.read_text()}
        for path in sorted((REPO_ROOT / "include" / "ragdag" / "stores").glob("*.py"))
    ]
    files.append({"path": "very/" * 200 + "deep.py", "content": "def f():\n    return 1\n"})
    cleaned = clean_repository({"files": files})
    chunks = chunk_texts(cleaned, Category.REPOSITORIES, tokenizer)
    assert len(chunks) > len(files)
    source_lines = {line for f in files for line in f["content"].splitlines()}
    for chunk, count in chunks:
        assert count == model_length(hf_tokenizer, chunk) <= MODEL_LIMIT
        heading, _, body = chunk.partition("\n")
        if heading.endswith(".py") and not heading.startswith("very/"):
            assert heading in {f["path"] for f in files}
            # Whole lines, indentation kept, from the first line on.
            for line in body.splitlines():
                assert line == "" or line in source_lines


def test_posts_are_250_tokens_with_25_tokens_overlap(tokenizer, page_texts) -> None:
    rule = CHUNKING_RULES[Category.POSTS]
    assert (rule.max_size, rule.overlap) == (250, 25)
    chunks = [text for text, _ in chunk_texts(prose(page_texts["dropbox-blog"]), Category.POSTS, tokenizer)]
    assert len(chunks) > 5
    for text, count in chunk_texts(prose(page_texts["dropbox-blog"]), Category.POSTS, tokenizer):
        assert count - tokenizer.special_tokens <= 250
    for previous, current in zip(chunks, chunks[1:]):
        shared = _longest_suffix_prefix(previous, current)
        assert shared, "consecutive chunks share the tail of the previous one"
        shared_tokens = tokenizer.count_with_special([shared])[0] - tokenizer.special_tokens
        assert 0 < shared_tokens <= 25


def _longest_suffix_prefix(previous: str, current: str) -> str:
    for size in range(min(len(previous), len(current)), 0, -1):
        if previous.endswith(current[:size]):
            return current[:size]
    return ""


def test_prose_chunks_end_at_sentence_boundaries(tokenizer, page_texts) -> None:
    text = page_texts["bbc-1"]
    for category in (Category.ARTICLES, Category.POSTS):
        for chunk, _ in chunk_texts(prose(text), category, tokenizer):
            assert re.search(r"[.!?\"'”’)\]]$|\w$", chunk)
            assert chunk in text, "a chunk is a slice of the cleaned text"
            # Each chunk ends where a sentence or line of the source ends.
            end = text.index(chunk) + len(chunk)
            assert end == len(text) or text[end].isspace()


def test_articles_pack_sentences_into_at_most_2000_characters(tokenizer, page_texts) -> None:
    rule = CHUNKING_RULES[Category.ARTICLES]
    assert (rule.unit, rule.min_size, rule.max_size) == ("chars", 1000, 2000)
    for text in page_texts.values():
        for chunk, _ in chunk_texts(prose(text), Category.ARTICLES, tokenizer):
            assert len(chunk) <= 2000


def test_short_text_is_one_chunk(tokenizer) -> None:
    for category in Category:
        assert chunk_texts(prose("Just one sentence."), category, tokenizer) == [("Just one sentence.", 6)]


def test_no_text_is_lost(tokenizer, page_texts) -> None:
    for category in Category:
        for text in [*page_texts.values(), *ADVERSARIAL.values()]:
            text = text.strip()
            covered = 0  # chunks are slices of the text, in order, overlapping or touching
            previous_start = -1
            for chunk, _ in chunk_texts(prose(text), category, tokenizer):
                # The next chunk starts after the previous start and no later than the first
                # character not covered yet (texts repeat passages, so take the last such place).
                next_uncovered = len(text[:covered]) + len(text[covered:]) - len(text[covered:].lstrip())
                start = text.rfind(chunk, previous_start + 1, next_uncovered + len(chunk))
                assert start >= 0, f"text lost before {chunk[:40]!r}"
                covered, previous_start = max(covered, start + len(chunk)), start
            assert covered == len(text)


def test_code_chunks_start_at_definitions(tokenizer) -> None:
    functions = "\n\n".join(
        f"@decorator\ndef function_{i}(value):\n" + "\n".join(f"    value = value + {j}  # step {j}" for j in range(12))
        for i in range(8)
    )
    source = f"import os\n\n{functions}\n\nclass Holder:\n    items = []\n"
    rules = {**CHUNKING_RULES, Category.REPOSITORIES: ChunkingRule("code", max_size=200, split_overlap_tokens=0)}
    cleaned = clean_repository({"files": [{"path": "pkg/mod.py", "content": source}]})
    chunks = chunk_texts(cleaned, Category.REPOSITORIES, tokenizer, rules)
    assert len(chunks) > 2
    for chunk, _ in chunks:
        heading, first_line = chunk.split("\n")[:2]
        assert heading == "pkg/mod.py"
        assert first_line.startswith(("import", "@decorator", "class", "def"))
        assert chunk.removeprefix("pkg/mod.py\n") in source


def _file_chunks(tokenizer, path: str, source: str, rules=CHUNKING_RULES) -> list[str]:
    cleaned = clean_repository({"files": [{"path": path, "content": source}]})
    chunks = [chunk for chunk, _ in chunk_texts(cleaned, Category.REPOSITORIES, tokenizer, rules)]
    assert all(chunk.startswith(f"{path}\n") for chunk in chunks)
    return [chunk.removeprefix(f"{path}\n") for chunk in chunks]


def _assert_tiles_by_whole_lines(source: str, bodies: list[str]) -> None:
    """Each chunk starts at a line start where the previous one ended, or earlier by whole lines
    (the overlap); together they are the file, blank lines included."""
    position = 0
    for body in bodies:
        start = source.rfind(body, 0, position + len(body))
        assert start >= 0 and (start == 0 or source[start - 1] == "\n"), f"mid-line start: {body[:40]!r}"
        assert start <= position, "text lost between two chunks"
        position = start + len(body)
        assert position == len(source) or source[position - 1] == "\n", f"mid-line end: {body[-40:]!r}"
    assert position == len(source)


def test_python_chunks_tile_the_file_by_whole_lines(tokenizer) -> None:
    # Real modules of this project: big classes, decorators, comments above definitions, blank lines.
    # (Where a file is cut into pieces: test_python_pieces_follow_the_syntax_tree.)
    for name in ("features/chunking.py", "datasets/publish.py", "stores/object_store.py"):
        source = (REPO_ROOT / "include" / "ragdag" / name).read_text().strip("\n")
        bodies = _file_chunks(tokenizer, name, source)
        assert len(bodies) > 5
        _assert_tiles_by_whole_lines(source, bodies)


def test_python_pieces_follow_the_syntax_tree(tokenizer) -> None:
    methods = "\n\n".join(
        f"    # method {i}\n    @property\n    def m{i}(self):\n" + "".join(f"        x = {j}\n" for j in range(6))
        for i in range(6)
    )
    source = (
        f'"""Doc."""\n\nimport os\n\n\nclass Big:\n    """A big class."""\n\n{methods}\n\ndef after():\n    return 1\n'
    )
    pieces = code_pieces(source, "pkg/big.py", max_chars=200)
    texts = [source[start:end] for start, end, _ in pieces]
    assert "".join(texts) == source, "the pieces tile the file"
    assert texts[0].startswith('"""Doc."""') and any(t.startswith("import os") for t in texts)
    method_starts = [t for t in texts if t.startswith("    # method")]
    assert len(method_starts) == 6, "the big class is cut at its methods"
    assert 'class Big:\n    """A big class."""\n\n' in texts, "its header stays with its first statement"
    assert all("@property\n    def m" in t for t in method_starts), "comments and decorators stay with the method"
    assert texts[-1] == "def after():\n    return 1\n"
    assert {parent for _, _, parent in pieces} == {-1, source.index("class Big")}


def test_code_chunks_overlap_by_whole_lines(tokenizer) -> None:
    source = "\n".join(f"value_{i} = compute(value_{i - 1}, {i})  # line {i}" for i in range(1, 400))
    rule = ChunkingRule("code", max_size=120, overlap=30, split_overlap_tokens=30)
    bodies = _file_chunks(tokenizer, "notes.txt", source, {**CHUNKING_RULES, Category.REPOSITORIES: rule})
    _assert_tiles_by_whole_lines(source, bodies)
    overlapping = sum(source.find(b) < source.find(a) + len(a) for a, b in zip(bodies, bodies[1:], strict=False))
    assert overlapping == len(bodies) - 1, "every chunk repeats the last lines of the one before"


def test_chunk_document_numbers_chunks_and_is_deterministic(tokenizer, page_texts) -> None:
    cleaned = prose(page_texts["google-sre-book-1"])
    first = chunk_document(cleaned, Category.ARTICLES, tokenizer, "doc-1")
    again = chunk_document(cleaned, Category.ARTICLES, tokenizer, "doc-1")
    assert first == again
    assert [c.chunk_index for c in first] == list(range(len(first)))
    assert {c.document_id for c in first} == {"doc-1"}


def test_empty_document_has_no_chunks(tokenizer) -> None:
    assert chunk_texts(CleanedDocument(()), Category.ARTICLES, tokenizer) == []
    assert chunk_texts(prose("   \n\n "), Category.POSTS, tokenizer) == []
