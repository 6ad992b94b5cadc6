from __future__ import annotations

from ragdag.datasets.offline import first_sentence, generate_offline, instruction_for, question_in
from ragdag.datasets.records import Extract


def _extract(text: str, category: str = "articles", position: int = 1, **fields) -> Extract:
    values = {
        "extract_id": f"d:{position}",
        "document_id": "d",
        "position": position,
        "category": category,
        "author_full_name": "Jane Doe",
        "title": "Feature stores",
        "chunk_indexes": [position],
        "text": text,
    }
    return Extract(**{**values, **fields})


def test_article_instructions_follow_the_documents_structure() -> None:
    lead = instruction_for(_extract("Feature stores\n\nRetrieval looks simple. It is not.", position=0))
    assert lead[0] == "lead" and "Feature stores" in lead[1]
    section = instruction_for(
        _extract(
            "Validation comes first\n\nBroken pages must not reach the index.", headings=["Validation comes first"]
        )
    )
    assert section[0] == "section" and "“Validation comes first”" in section[1]
    question = instruction_for(
        _extract(
            "Teams tune the index first. Why do we keep reaching for the model first? Because it is the visible part."
        )
    )
    assert question == ("question", question[1]) and "Why do we keep reaching for the model first?" in question[1]
    continued = instruction_for(_extract("Skipping unchanged documents saves hours.", section="Incremental runs"))
    assert continued[0] == "continue_section" and "Skipping unchanged documents saves hours." in continued[1]


def test_posts_and_repository_files_get_their_own_kinds() -> None:
    post = instruction_for(_extract("Shipping RAG is mostly data work. More later.", "posts", position=0))
    assert post[0] == "post" and "Shipping RAG is mostly data work." in post[1]
    start = instruction_for(
        _extract('"""Split samples."""\nimport hashlib', "repositories", position=0, section="instruct.py", part=0)
    )
    assert start[0] == "file" and "`instruct.py`" in start[1]
    function = instruction_for(
        _extract("def split_samples(samples):\n    return samples", "repositories", section="instruct.py", part=1)
    )
    assert function[0] == "definition" and "`split_samples`" in function[1] and "function" in function[1]
    readme = instruction_for(_extract("# Title\n\nText.", "repositories", section="README.md", part=0))
    assert readme[0] == "document_file" and "`README.md`" in readme[1]


def test_answers_are_the_authors_text_and_instructions_are_made_distinct() -> None:
    texts = ["Skipping unchanged documents saves hours.", "Skipping unchanged documents saves hours, twice."]
    same_start = [_extract(t, section="Incremental runs", extract_id=f"d:{i}", position=1) for i, t in enumerate(texts)]
    samples = generate_offline(same_start)
    assert [s.sample.output for s in samples] == texts and [s.chosen for s in samples] == texts
    assert len({s.sample.instruction for s in samples}) == 2


def test_questions_and_first_sentences_are_whole_sentences() -> None:
    assert question_in("It is hard. Instead of “can you do XYZ for me?” ask something else.") is None
    assert (
        question_in("Short? No. Is this a real question about pipelines?") == "Is this a real question about pipelines?"
    )
    assert (
        first_sentence("A heading\n\nBy Jane Doe\n\nThe real first sentence. The second.") == "The real first sentence."
    )
