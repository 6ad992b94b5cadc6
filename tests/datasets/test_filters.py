from __future__ import annotations

from ragdag.datasets.filters import FilterConfig, apply_filters, count_tokens, mask_pii
from ragdag.datasets.records import GeneratedSample, SftSample

CONFIG = FilterConfig(
    min_answer_tokens=20,
    max_answer_tokens=400,
    allowed_languages=("en",),
    max_boilerplate_share=0.5,
    near_duplicate_threshold=0.8,
)
BASE = (
    "Feature stores keep the training and inference pipelines reading the same version of the truth. "
    "Deterministic identifiers make every retry idempotent, so a batch job can fail and run again safely. "
    "Incremental processing skips unchanged documents by comparing their content hashes with the warehouse. "
    "A validation gate in front of the feature pipeline catches empty pages, cookie banners and duplicated "
    "content, quarantines them for a person to review, and keeps the rest of the batch moving. Retrieval "
    "quality is measured on every run, so a regression shows up the day it happens, not weeks later."
)


def _item(output: str, n: int, category: str = "articles") -> GeneratedSample:
    sample = SftSample(
        instruction=f"Instruction {n}",
        output=output,
        document_id=f"doc-{n}",
        author_full_name="A",
        category=category,
        extract_id=f"doc-{n}:0",
        instruction_kind="lead",
        generator="offline",
    )
    return GeneratedSample(sample=sample, chosen=output)


def _english(text: str) -> str:
    return "fr" if "le" in text.split() else "en"


def test_planted_exact_and_near_duplicates_are_removed_and_counted() -> None:
    near = BASE.replace("safely", "without harm")  # the same page with one word edited
    other = "Quarantined documents wait for a person to review them; released ones go on to the feature stage. " * 2
    items = [_item(BASE, 0), _item(BASE.upper().replace("  ", " "), 1), _item(near, 2), _item(other, 3)]
    kept, counts = apply_filters(items, CONFIG, detect_language=_english)
    assert [k.sample.document_id for k in kept] == ["doc-0", "doc-3"]
    by_name = {c.name: (c.before, c.after) for c in counts}
    assert by_name["exact_duplicates"] == (4, 3) and by_name["near_duplicates"] == (3, 2)
    assert [c.name for c in counts] == [
        "pii",
        "answer_length",
        "language",
        "boilerplate",
        "exact_duplicates",
        "near_duplicates",
    ]


def test_length_language_and_boilerplate_filters() -> None:
    short = "Too short to learn from."
    french = "le pipeline garde les embeddings à jour et le lot de nuit reste cohérent avec les documents " * 3
    banner = "\n".join(["Subscribe to our newsletter", "Accept all cookies", "Share on Facebook", BASE])
    code = "\n".join(["import os", "x = os.getcwd()", "def f():", "    return x", BASE])
    repository_code = _item(code, 5, category="repositories")
    kept, counts = apply_filters(
        [_item(short, 1), _item(french, 2), _item(banner, 3), _item(code, 4), repository_code],
        CONFIG,
        detect_language=_english,
    )
    assert [k.sample.document_id for k in kept] == ["doc-5"], "code is fine in a repository, not in an article"
    assert {c.name: c.before - c.after for c in counts} == {
        "pii": 0,
        "answer_length": 1,
        "language": 1,
        "boilerplate": 2,
        "exact_duplicates": 0,
        "near_duplicates": 0,
    }


def test_emails_and_phone_numbers_are_masked_in_answers() -> None:
    text = f"{BASE} Write to jane.doe@example.com or call +44 20 7946 0958 or (555) 123-4567."
    kept, counts = apply_filters([_item(text, 1)], CONFIG, detect_language=_english)
    output = kept[0].sample.output
    assert "jane.doe@example.com" not in output and "7946" not in output and "123-4567" not in output
    assert output.count("[EMAIL]") == 1 and output.count("[PHONE]") == 2
    assert kept[0].chosen == output
    assert counts[0].changed == 1
    kept_text, masked = mask_pii("Bug 1678616 fixed on 2021-01-05 in version 1.2.3, pages 10-20.")
    assert masked == 0 and "1678616" in kept_text


def test_tokens_count_words_and_punctuation() -> None:
    assert count_tokens("Hello, world!") == 4
