"""The ``offline`` generator: instructions derived from a document's own structure, no model.

Each extract becomes one sample whose answer is the author's own text. The instruction says what
that text is, from what the document itself provides, in this order:

- articles: the opening (lead paragraphs) of the document; a section that starts with its
  heading; a question the text itself asks; a section the extract continues; its first sentence;
- posts: a question the post asks, else what the post is about (its first sentence);
- repositories: "write the function/class ``name``" when the extract starts with a definition,
  "explain what ``path`` does" for the start of a file, else the part of ``path`` that defines
  the first name in it.

The wording of each kind rotates over a few phrasings (chosen by a hash of the extract id, so the
same extract always gets the same one), and an instruction that repeats an earlier one is made
distinct with the words the answer starts with.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence

from ragdag.datasets.extracts import is_heading
from ragdag.datasets.records import Extract, GeneratedSample, SftSample
from ragdag.models import Category

GENERATOR = "offline"
GENERATOR_VERSION = "offline-1"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A whole sentence: starts a line or follows a sentence end, ends with "?".
_QUESTION = re.compile(r"(?:^|(?<=[.!?]\s)|(?<=\n))[A-Z][^.!?\n]{15,220}\?")
_DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_MAX_TOPIC_CHARS = 160

# kind -> phrasings; fields: author, title, heading, question, sentence, path, name, kind_of
_TEMPLATES: Mapping[str, Sequence[str]] = {
    "lead": (
        "Write the opening of the article “{title}” by {author}.",
        "As {author}, introduce the topic of your article “{title}”.",
        "Write the first paragraphs of {author}'s article “{title}”: what it is about and why it matters.",
    ),
    "lead_untitled": (
        "Write the opening of an article by {author} that starts from this idea: {sentence}",
        "As {author}, open an article with this point: {sentence}",
    ),
    "section": (
        "Write the section “{heading}” of the article “{title}”, in the style of {author}.",
        "As {author}, write the part of “{title}” headed “{heading}”.",
        "Explain “{heading}” the way {author} does in “{title}”.",
    ),
    "question": (
        "{question} Answer as {author} does in “{title}”.",
        "How would {author} answer this: {question}",
        "{author} asks: “{question}” Write the passage that answers it.",
    ),
    "continue_section": (
        "Continue the section “{heading}” of “{title}” as {author}, from: {sentence}",
        "In {author}'s article “{title}”, section “{heading}”, write the passage that begins: {sentence}",
    ),
    "sentence": (
        "Continue {author}'s article “{title}” from this point: {sentence}",
        "Write a passage of “{title}” in {author}'s voice that develops: {sentence}",
    ),
    "post": (
        "Write a social media post, as {author}, about: {sentence}",
        "Share {author}'s take on this in a short post: {sentence}",
    ),
    "post_question": ("Answer in a short social media post, as {author}: {question}",),
    "definition": (
        "Write the {kind_of} `{name}` of `{path}`, as {author} wrote it.",
        "Implement the {kind_of} `{name}` in `{path}`.",
    ),
    "file": (
        "Explain what `{path}` does by showing its code.",
        "Write the beginning of `{path}` in the repository “{title}”.",
    ),
    "document_file": ("Write the file `{path}` of the repository “{title}”.",),
    "file_part": (
        "Show the part of `{path}` that defines `{name}`.",
        "Write the code in `{path}` around `{name}`.",
    ),
    "file_continue": ("Continue the code of `{path}` from: {sentence}",),
}


def _clip(text: str, limit: int = _MAX_TOPIC_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def first_sentence(text: str, title: str | None = None) -> str:
    """The first sentence of ``text`` that is not a heading or a byline."""
    for block in re.split(r"\n\s*\n|\n", text):
        block = block.strip()
        if not block or is_heading(block, None) or block.lower().startswith("by "):
            continue
        return _clip(_SENTENCE_END.split(block, 1)[0])
    return _clip(text.strip().split("\n", 1)[0])


def question_in(text: str) -> str | None:
    """The first question the text itself asks (a whole sentence of five words or more)."""
    for match in _QUESTION.finditer(text):
        question = " ".join(match.group().split())
        balanced = question.count("“") == question.count("”") and question.count('"') % 2 == 0
        if len(question.split()) >= 5 and balanced:
            return question
    return None


_UNTITLED = {Category.ARTICLES: "the article", Category.POSTS: "the post", Category.REPOSITORIES: "the repository"}


def _pick(kind: str, extract_id: str) -> str:
    phrasings = _TEMPLATES[kind]
    digest = hashlib.sha256(f"{kind}:{extract_id}".encode()).digest()
    return phrasings[digest[0] % len(phrasings)]


def _article_kind(extract: Extract, fields: dict[str, str]) -> str:
    first_line = extract.text.split("\n", 1)[0].strip()
    if extract.position == 0:
        return "lead" if extract.title else "lead_untitled"
    if extract.headings and first_line == extract.headings[0]:
        fields["heading"] = extract.headings[0]
        return "section"
    if question := question_in(extract.text):
        fields["question"] = question
        return "question"
    if extract.section:
        fields["heading"] = extract.section
        return "continue_section"
    return "sentence"


def _post_kind(extract: Extract, fields: dict[str, str]) -> str:
    if question := question_in(extract.text):
        fields["question"] = question
        return "post_question"
    return "post"


def _repository_kind(extract: Extract, fields: dict[str, str]) -> str:
    path = extract.section or "the repository"
    fields["path"] = path
    definitions = list(_DEFINITION.finditer(extract.text))
    starts_with_definition = (
        bool(definitions) and not extract.text[: definitions[0].start()].strip("\n@").replace("\n", "").strip()
    )
    if definitions:
        fields["name"] = definitions[0].group(1)
        fields["kind_of"] = "class" if definitions[0].group().startswith("class") else "function"
    if extract.part == 0:
        return "file" if path.endswith(".py") else "document_file"
    if starts_with_definition:
        return "definition"
    if definitions:
        return "file_part"
    return "file_continue"


_KINDS: Mapping[Category, Callable[[Extract, dict[str, str]], str]] = {
    Category.ARTICLES: _article_kind,
    Category.POSTS: _post_kind,
    Category.REPOSITORIES: _repository_kind,
}


def instruction_for(extract: Extract) -> tuple[str, str]:
    """(kind, instruction) for one extract."""
    fields: dict[str, str] = {
        "author": extract.author_full_name or "the author",
        "title": extract.title or _UNTITLED[extract.category],
        "sentence": first_sentence(extract.text, extract.title),
    }
    kind = _KINDS[extract.category](extract, fields)
    return kind, _pick(kind, extract.extract_id).format(**fields)


def _distinct(samples: list[SftSample]) -> list[SftSample]:
    seen: set[str] = set()
    out: list[SftSample] = []
    for sample in samples:
        instruction = sample.instruction
        if instruction in seen:
            opening = " ".join(sample.output.split()[:10])
            instruction = f"{instruction} (the part beginning “{_clip(opening, 80)}”)"
        seen.add(instruction)
        out.append(sample.model_copy(update={"instruction": instruction}))
    return out


def generate_offline(extracts: Sequence[Extract]) -> list[GeneratedSample]:
    """One sample per extract, the answer being the extract itself."""
    samples = []
    for extract in extracts:
        kind, instruction = instruction_for(extract)
        samples.append(
            SftSample(
                instruction=instruction,
                output=extract.text,
                document_id=extract.document_id,
                author_full_name=extract.author_full_name,
                category=extract.category,
                extract_id=extract.extract_id,
                source=extract.source,
                title=extract.title,
                instruction_kind=kind,
                generator=GENERATOR,
            )
        )
    return [GeneratedSample(sample=s, chosen=s.output) for s in _distinct(samples)]
