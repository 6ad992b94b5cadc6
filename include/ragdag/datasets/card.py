"""The dataset card (``README.md`` of a version) in the Hugging Face format: YAML front matter
(license, language, task categories, size, the two configs and their files) and what a user needs
to judge the data: sources, generator, filters, split, preference pairs, known limits.

Rendered only from the version's own facts (no clock), so a rebuild gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ragdag.datasets import layout
from ragdag.datasets.filters import FilterCount

_FILTER_NOTES = {
    "pii": "secrets and personal data masked in instructions, answers, chosen and rejected (count = samples changed)",
    "injection": "samples with instruction-injection text, or an author that is not a person's name, dropped",
    "answer_length": "answers outside {min}–{max} word tokens dropped",
    "language": "prose answers not in {languages} dropped (code is not checked)",
    "boilerplate": "answers mostly boilerplate (or code, in articles and posts) dropped",
    "exact_duplicates": "repeated answers dropped (case and spaces ignored)",
    "near_duplicates": "answers with estimated Jaccard ≥ {threshold} (MinHash LSH, word 5-grams) to an earlier one dropped",
}


def _preference_text(rejected_by: Mapping[str, int], rejected: Mapping[str, Any]) -> str:
    """Who wrote the rejected side, how, and the length bias that remains."""
    if not rejected_by:
        return "No preference pairs."
    writers = "; ".join(f"`{model}` ({count} pairs)" for model, count in sorted(rejected_by.items()))
    length = rejected.get("length") or {}
    bias = (
        f" Length bias: chosen {length['chosen_mean_chars']:.0f} characters on average, rejected "
        f"{length['rejected_mean_chars']:.0f} (ratio {length['chosen_to_rejected']:.2f}; each rejected answer was "
        f"budgeted to its chosen answer's length in tokens, up to {rejected.get('max_tokens')})."
        if length
        else ""
    )
    return (
        "`chosen` is the author's own text for the instruction; `rejected` is the base model's own greedy answer "
        f"to the same instruction ({rejected.get('engine', 'unknown engine')}), written by {writers}: DPO learns "
        f"the author's voice over the model's.{bias} {rejected.get('without_pair', 0)} samples got no pair (an "
        "empty answer, or the same text as the author's)."
    )


def _by_kind(count: FilterCount) -> str:
    """What a filter counted by kind (masked types, injection patterns), for its row."""
    return ": " + ", ".join(f"`{kind}` {n}" for kind, n in sorted(count.by_kind.items())) if count.by_kind else ""


def size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "n>1M"


def _front_matter(*, license_id: str, languages: Sequence[str], rows: int) -> str:
    files = [
        ("sft", layout.TRAIN_FILE, layout.TEST_FILE),
        ("preference", layout.PREFERENCE_TRAIN_FILE, layout.PREFERENCE_TEST_FILE),
    ]
    lines = ["---", f"license: {license_id}", "language:"]
    lines += [f"- {language}" for language in languages]
    lines += [
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {size_category(rows)}",
        "tags:",
        "- instruction-tuning",
        "- dpo",
        "- llm-twin",
        "- ragdag",
        "configs:",
    ]
    for name, train, test in files:
        lines += [
            f"- config_name: {name}",
            *(["  default: true"] if name == "sft" else []),
            "  data_files:",
            "  - split: train",
            f"    path: {train}",
            "  - split: test",
            f"    path: {test}",
        ]
    return "\n".join([*lines, "---"])


def render_card(
    *,
    version: str,
    counts: dict[str, int],
    documents: dict[str, dict[str, Any]],
    generation: dict[str, Any],
    filters: Sequence[FilterCount],
    decontamination: dict[str, Any],
    masked: Mapping[str, int] | None = None,
    rejected_by: dict[str, int],
    settings: dict[str, Any],
) -> str:
    languages = list(settings["allowed_languages"])
    rows = counts["train"] + counts["test"]
    categories = Counter(str(doc.get("category")) for doc in documents.values())
    authors = sorted({str(doc.get("author_full_name")) for doc in documents.values() if doc.get("author_full_name")})
    notes = {
        name: text.format(
            min=settings["min_answer_tokens"],
            max=settings["max_answer_tokens"],
            languages=", ".join(languages),
            threshold=settings["near_duplicate_threshold"],
        )
        for name, text in _FILTER_NOTES.items()
    }
    generator = generation["generator"]
    if generator == "llm":
        how = (
            f"An LLM (`{generation.get('model')}`, temperature {generation.get('temperature')}, JSON output, prompt "
            f"`{generation.get('prompt_version')}`) wrote instruction–answer pairs per extract; outputs are the model's "
            f"answers. Tokens used: {generation.get('tokens', {}).get('total_tokens', 0)}."
        )
    else:
        how = (
            "No model: each extract's instruction is derived from the document itself (its title and opening, "
            "section headings, questions the text asks, first sentences; for repositories the file path and the "
            "functions and classes defined), and the output is the author's own text, unchanged but for masking."
        )
    parts = [
        _front_matter(license_id=settings["license"], languages=languages, rows=rows),
        "",
        f"# ragdag instruct dataset `{version}`",
        "",
        f"Instruction-tuning (SFT) and preference (DPO) data built by the ragdag platform from "
        f"{len(documents)} crawled, validated documents by {', '.join(authors) or 'unknown authors'}, to fine-tune a "
        'model on their writing (an "LLM twin").',
        "",
        "| config | file | rows |",
        "|---|---|---|",
        f"| sft | `{layout.TRAIN_FILE}` | {counts['train']} |",
        f"| sft | `{layout.TEST_FILE}` | {counts['test']} |",
        f"| preference | `{layout.PREFERENCE_TRAIN_FILE}` | {counts['preference_train']} |",
        f"| preference | `{layout.PREFERENCE_TEST_FILE}` | {counts['preference_test']} |",
        "",
        "```python",
        "from datasets import load_dataset",
        f'sft = load_dataset("json", data_files={{"train": "{layout.TRAIN_FILE}", "test": "{layout.TEST_FILE}"}})',
        "```",
        "",
        "## Fields",
        "",
        "- SFT rows: `instruction`, `output` (Alpaca naming), `document_id`, `category`, `author_full_name`, "
        "`extract_id`, `source` (URL), `title`, `instruction_kind`, `generator`.",
        "- Preference rows (TRL's format): `prompt`, `chosen` (the author's own text), `rejected`, `rejected_by`, "
        "and the same lineage fields.",
        "",
        "## Sources",
        "",
        "Documents per category: " + ", ".join(f"{name} {count}" for name, count in sorted(categories.items())) + ". "
        "Each document's URL and content hash are in `manifest.json` (`documents`). Consecutive chunks of a document "
        f"are grouped into extracts of {settings['extract_min_chars']}–{settings['extract_max_chars']} characters "
        "(posts and short documents are one extract).",
        "",
        "## Generation",
        "",
        how,
        "",
        "## Filters",
        "",
        "| filter | before | after | what it does |",
        "|---|---|---|---|",
        *[
            f"| {f.name} | {f.before} | {f.after}{f' ({f.changed} changed)' if f.changed else ''} | "
            f"{notes.get(f.name, '')}{_by_kind(f)} |"
            for f in filters
        ],
        "",
        "Masked in the rows (each distinct text once; by the feature stage before chunking, or by the pii filter): "
        + (", ".join(f"`{kind}` {count}" for kind, count in sorted(masked.items())) if masked else "nothing")
        + ". Placeholders name the type: `[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`, `[SSN]`, `[SECRET:<TYPE>]`.",
        "",
        "## Split",
        "",
        f"By document (no document on both sides), stratified by category, seeded ({settings['seed']}), "
        f"test share {settings['test_share']}. Decontamination: {decontamination['dropped']} test samples sharing a "
        f"{decontamination['ngram']}-word sequence with a train answer were dropped.",
        "",
        "## Preference pairs",
        "",
        _preference_text(rejected_by, generation.get("rejected") or {}),
        "",
        "## Known limits",
        "",
        "- Small and single-author by construction: it reflects the crawled sources, their topics and their errors.",
        "- Offline instructions are templates filled from the document's structure: varied, but not how a user "
        "would phrase a request.",
        "- Language detection (py3langid) and the boilerplate, PII and near-duplicate filters are heuristics: some "
        "noise stays, some good samples go. Numbers are masked only when they validate (phone metadata, Luhn, "
        "IBAN mod-97, SSN rules), and in code only when written as a person writes them; names of people in "
        "the text are not masked.",
        "- The license of the underlying texts is their authors'; check it before sharing the data.",
        "",
    ]
    return "\n".join(parts)
