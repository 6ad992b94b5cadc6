from __future__ import annotations

from ragdag.datasets.offline import (
    QUOTE_RUN_WORDS,
    enclosing_definition,
    generate_offline,
    instruction_for,
    question_in,
    quotes_answer,
    topic_terms,
)
from ragdag.datasets.records import Extract

ANSWER = (
    "Broken pages must not reach the index. Empty pages, cookie banners and duplicated content quietly "
    "degrade retrieval quality, so a validation gate in front of the feature pipeline catches them and "
    "keeps the rest of the batch moving while a person reviews what it quarantined."
)


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
    lead = instruction_for(_extract(f"Retrieval looks simple. {ANSWER}", position=0))
    assert lead.kind == "lead" and "Feature stores" in lead.instruction and lead.answer.startswith("Retrieval")
    section = instruction_for(
        _extract(
            f"## Validation comes first\n\n{ANSWER}\n\n## Next part\n\nOther text.",
            headings=["Validation comes first", "Next part"],
        )
    )
    assert section.kind == "section" and "“Validation comes first”" in section.instruction
    assert section.answer == ANSWER, "the section's text up to the next heading, without the heading"
    continued = instruction_for(_extract(ANSWER, section="Incremental runs"), ["pages", "gate", "batch"])
    assert continued.kind == "continue_section" and "“Incremental runs”" in continued.instruction
    assert "pages, gate and batch" in continued.instruction and continued.answer == ANSWER
    plain = instruction_for(_extract(ANSWER), ["pages", "gate"])
    assert plain.kind == "sentence" and "pages and gate" in plain.instruction


def test_a_question_is_answered_by_the_passage_after_it_or_not_used() -> None:
    asked = "Teams tune the index first. Why do we keep reaching for the model first?"
    question = instruction_for(_extract(f"{asked} {ANSWER}\n\n## Later\n\nUnrelated text after the heading."))
    assert question.kind == "question" and "Why do we keep reaching for the model first?" in question.instruction
    assert question.answer == ANSWER, "the text after the question, up to the next heading"
    short = instruction_for(_extract(f"{asked} Because it is visible."))
    assert short.kind == "sentence", "a passage too short to answer the question: no question template"


def test_posts_and_repository_files_get_their_own_kinds() -> None:
    post = instruction_for(_extract("Shipping RAG is mostly data work. More later.", "posts", position=0), ["rag"])
    assert post.kind == "post" and "about rag" in post.instruction
    start = instruction_for(
        _extract('"""Split samples."""\nimport hashlib', "repositories", position=0, section="instruct.py", part=0)
    )
    assert start.kind == "file" and "`instruct.py`" in start.instruction
    code = "# Split.\n@cache\ndef split_samples(samples):\n    return samples\n\n\ndef decontaminate(t):\n    return t"
    function = instruction_for(_extract(code, "repositories", section="instruct.py", part=1))
    assert function.kind == "definition" and "functions `split_samples` and `decontaminate`" in function.instruction
    readme = instruction_for(_extract("# Title\n\nText.", "repositories", section="README.md", part=0))
    assert readme.kind == "document_file" and "`README.md`" in readme.instruction


def test_code_inside_a_definition_names_it() -> None:
    previous = ["class Store:\n    def get(self):\n        return 1\n"]
    methods = "    def put(self, value):\n        self.value = value\n\n    def drop(self):\n        pass"
    assert enclosing_definition(previous, methods) == ("class", "Store")
    made = instruction_for(_extract(methods, "repositories", section="s.py", part=1), (), ("class", "Store"))
    assert made.kind == "members" and "`put` and `drop`" in made.instruction and "`Store`" in made.instruction
    body = "        value = compute()\n        return value"
    assert enclosing_definition([*previous, methods], body) == ("method", "drop")
    rest = instruction_for(_extract(body, "repositories", section="s.py", part=2), (), ("method", "drop"))
    assert rest.kind == "definition_continue" and "`drop`" in rest.instruction
    assert enclosing_definition(previous, "x = 1") is None


def test_no_instruction_quotes_its_answer() -> None:
    assert quotes_answer(f"Continue from: {' '.join(ANSWER.split()[:QUOTE_RUN_WORDS])}", ANSWER)
    assert not quotes_answer(f"Continue from: {' '.join(ANSWER.split()[: QUOTE_RUN_WORDS - 1])}", ANSWER)
    # A title that the text repeats word for word: the instruction names the key terms instead.
    title = "Broken pages must not reach the index"
    long_title = f"{title} of a retrieval system"
    text = f"{ANSWER} Broken pages must not reach the index of a retrieval system, ever."
    made = instruction_for(_extract(text, position=0, title=long_title), ["pages", "index"])
    assert made.kind == "about" and not quotes_answer(made.instruction, made.answer)


def test_answers_are_the_authors_text_and_instructions_are_made_distinct() -> None:
    texts = [f"{ANSWER} Skipping unchanged documents saves hours.", f"{ANSWER} Hashes make reruns cheap, twice."]
    same = [_extract(t, section="Incremental runs", extract_id=f"d:{i}", position=i + 1) for i, t in enumerate(texts)]
    samples = generate_offline(same)
    assert [s.sample.output for s in samples] == texts and [s.chosen for s in samples] == texts
    assert len({s.sample.instruction for s in samples}) == 2
    assert not any(quotes_answer(s.sample.instruction, s.sample.output) for s in samples)


def test_key_terms_are_distinctive_words_in_text_order() -> None:
    extracts = [
        _extract("Qdrant stores vectors. Qdrant local mode opens one path. The index is fast.", extract_id="d:1"),
        _extract("MongoDB stores documents. The index is fast. MongoDB documents carry hashes.", extract_id="d:2"),
    ]
    terms = topic_terms(extracts, count=2)
    assert terms["d:1"][0] == "qdrant" and terms["d:2"][0] == "mongodb"
    assert "index" not in terms["d:1"], "a word every extract has does not tell them apart"


def test_questions_are_whole_sentences() -> None:
    assert question_in("It is hard. Instead of “can you do XYZ for me?” ask something else.") is None
    found = question_in("Short? No. Is this a real question about pipelines?")
    assert found is not None and found.group() == "Is this a real question about pipelines?"
