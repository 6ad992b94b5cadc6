from __future__ import annotations

from ragdag.datasets.extracts import (
    document_extracts,
    group_extracts,
    headings_in,
    is_heading,
    strip_line_overlap,
    strip_overlap,
)


def _chunks(texts: list[str], category: str = "articles", doc: str = "d1") -> list[dict]:
    return [
        {
            "document_id": doc,
            "chunk_index": i,
            "text": t,
            "category": category,
            "author_full_name": "Jane Doe",
            "url": f"https://blog.test/{doc}",
        }
        for i, t in enumerate(texts)
    ]


def test_overlap_repeated_by_the_chunker_is_removed() -> None:
    first = "One sentence here. Two sentences here. The tail that repeats."
    second = "The tail that repeats. And new text follows."
    assert strip_overlap(first, second) == " And new text follows."
    assert strip_overlap("Nothing shared at all here.", second) == second


def test_code_overlap_is_removed_by_whole_lines_however_short() -> None:
    assert strip_line_overlap("a = 1\n    )\n", "    )\nb = 2\n") == "b = 2\n"
    assert strip_line_overlap("a = 1\nb = 2\n", "a = 1\nb = 2\nc = 3\n") == "c = 3\n"
    assert strip_line_overlap("x = 1\n", "y = 2\n") == "y = 2\n"
    assert strip_line_overlap("xx = 1\n", "x = 1\ny\n") == "x = 1\ny\n", "only whole lines count"


def test_chunks_are_grouped_into_bounded_extracts_in_order() -> None:
    paragraphs = [f"Paragraph {i} says something different about topic {i}. " * 9 for i in range(9)]
    extracts = document_extracts(_chunks(paragraphs), title="T", min_chars=1000, max_chars=2000)
    assert [i for e in extracts for i in e.chunk_indexes] == list(range(9))
    assert all(1000 <= len(e.text) <= 2000 for e in extracts[:-1])
    assert [e.position for e in extracts] == list(range(len(extracts)))
    assert extracts[0].extract_id == "d1:0"


def test_posts_and_short_documents_are_one_extract() -> None:
    post = document_extracts(
        _chunks(["a " * 300, "b " * 300, "c " * 300], "posts"), title=None, min_chars=1000, max_chars=2000
    )
    assert len(post) == 1 and post[0].chunk_indexes == [0, 1, 2]
    short = document_extracts(
        _chunks(["Short text one.", "Short text two."]), title=None, min_chars=1000, max_chars=2000
    )
    assert len(short) == 1


def test_repository_extracts_follow_files_and_drop_the_path_header() -> None:
    chunks = _chunks(
        [
            "a.py\ndef a():\n    return 1\n\n\n",
            "a.py\n\n\ndef b():\n    return 2\n",
            "b.md\n# Title\n\nText of b.",
        ],
        "repositories",
    )
    extracts = document_extracts(chunks, title="repo", min_chars=1000, max_chars=2000)
    assert [(e.section, e.chunk_indexes, e.part) for e in extracts] == [("a.py", [0, 1], 0), ("b.md", [2], 0)]
    assert extracts[0].text == "def a():\n    return 1\n\n\ndef b():\n    return 2", "verbatim, blank lines kept"
    assert not extracts[1].text.startswith("b.md")


def test_code_extracts_are_cut_at_definitions_whatever_the_chunk_boundaries() -> None:
    functions = [
        f"def f{i}(x):\n" + "".join(f"    x = x + {j}\n" for j in range(12)) + "    return x\n" for i in range(6)
    ]
    source = '"""Module."""\n\nimport os\n\n\n' + "\n\n".join(functions)
    # Chunks cut anywhere on line boundaries, each repeating the last two lines of the one before.
    lines = source.splitlines(keepends=True)
    cuts = list(range(0, len(lines), 9))
    bodies = ["".join(lines[max(0, c - 2) if c else 0 : c + 9]) for c in cuts]
    extracts = document_extracts(
        _chunks([f"m.py\n{b}" for b in bodies], "repositories"), title="repo", min_chars=150, max_chars=400
    )
    assert "\n".join(e.text for e in extracts).replace("\n", "") == source.replace("\n", "")
    for extract in extracts[1:]:
        assert extract.text.startswith("def f"), extract.text[:30]
        assert extract.text in source and extract.text.endswith("return x")
    assert all(set(e.chunk_indexes) <= set(range(len(bodies))) and e.chunk_indexes for e in extracts)


def test_headings_are_the_lines_the_page_marks_as_headings() -> None:
    assert is_heading("## Validation comes first") and is_heading("# Feature stores")
    assert not is_heading("Validation comes first"), "a short line may be a list item or a caption"
    assert not is_heading("## This is a sentence.")
    assert not is_heading("#hashtag")
    assert not is_heading("# The title", title="The title")
    text = "# Feature stores\n\nPreview yellow theme\n\nSome text.\n\n## Validation comes first\n\nMore."
    assert headings_in(text, None) == ["Feature stores", "Validation comes first"]


def test_documents_come_in_id_order_with_their_titles() -> None:
    chunks = _chunks(["Text of b."], doc="b") + _chunks(["Text of a."], doc="a")
    extracts = group_extracts(chunks, {"a": "Title A"}, min_chars=10, max_chars=100)
    assert [(e.document_id, e.title) for e in extracts] == [("a", "Title A"), ("b", None)]
