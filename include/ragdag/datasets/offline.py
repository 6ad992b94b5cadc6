"""The ``offline`` generator: instructions derived from a document's own structure, no model.

Each extract becomes one sample whose answer is the author's own text. The instruction says what
that text is, from what the document itself provides, in this order:

- articles: the opening of the document; a section that starts with its (marked) heading, the
  answer being the section's text up to the next heading; a question the text itself asks, the
  answer being the passage after it up to the next heading; a part of the section the extract is
  in; else a part of the article about the extract's key terms;
- posts: a question the post asks (answered by what follows it), else a post about its key terms;
- repositories: "explain / write the beginning of ``path``" for the start of a file, "write the
  function/class/method ``name`` (and the next ones)" when the extract starts with definitions,
  else the part of ``path`` that defines the first name in it, or its part number.

An instruction never contains its answer: no template quotes the text (topics are named by a
few key terms, a question is answered by the passage that follows it), and a guard replaces any
instruction that still shares a run of :data:`QUOTE_RUN_WORDS` consecutive words with its answer
(a title or heading the author repeats in the text) by one naming only the key terms.

The wording of each kind rotates over a few phrasings (chosen by a hash of the extract id, so the
same extract always gets the same one), and an instruction that repeats an earlier one is made
distinct with the extract's key terms, then its part number.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ragdag.datasets.extracts import heading_text, is_heading
from ragdag.datasets.records import Extract, GeneratedSample, SftSample
from ragdag.models import Category

GENERATOR = "offline"
GENERATOR_VERSION = "offline-2"

# An instruction sharing this many consecutive words with its answer quotes it.
QUOTE_RUN_WORDS = 8
# A question or a section is used only when the passage that answers it has this many words.
MIN_PASSAGE_WORDS = 30
TOPIC_TERMS = 3

# A whole sentence: starts a line or follows a sentence end, ends with "?".
_QUESTION = re.compile(r"(?:^|(?<=[.!?]\s)|(?<=\n))[A-Z][^.!?\n]{15,220}\?")
_DEFINITION = re.compile(r"^([ \t]*)(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_WORD = re.compile(r"\w+")
_TERM = re.compile(r"[a-z][a-z'-]{3,}")
_STOPWORDS = frozenset(
    """about above after again against also although always among another anything around because
    been before being below between both came cannot come could does doing done down during each
    either else enough even ever every everything first from further gets getting give given goes
    going good great have having here hers herself himself into itself just keep know last less
    like made make makes making many more most much must myself need needs never next none only
    onto other others ought ours ourselves over own part really said same says seem seems several
    shall should since some something still such take than that their theirs them themselves then
    there these they thing things think this those though through thus together too under until
    upon used uses using very want wants well were what whatever when where whether which while
    whom whose will with within without would your yours yourself yourselves""".split()
)

# kind -> phrasings; fields: author, title, heading, question, topic, path, name, names, kind_of, part
_TEMPLATES: Mapping[str, Sequence[str]] = {
    "lead": (
        "Write the opening of the article “{title}” by {author}.",
        "As {author}, introduce the topic of your article “{title}”.",
        "Write the first paragraphs of {author}'s article “{title}”: what it is about and why it matters.",
    ),
    "lead_untitled": (
        "Write the opening of an article by {author} about {topic}.",
        "As {author}, open an article on {topic}.",
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
        "In the section “{heading}” of “{title}”, write {author}'s passage on {topic}.",
        "Continue the section “{heading}” of {author}'s article “{title}”: cover {topic}.",
    ),
    "sentence": (
        "Write the passage of {author}'s article “{title}” about {topic}.",
        "In {author}'s voice, write the part of “{title}” that discusses {topic}.",
    ),
    "post": (
        "Write a social media post, as {author}, about {topic}.",
        "Share {author}'s take on {topic} in a short post.",
    ),
    "post_question": ("Answer in a short social media post, as {author}: {question}",),
    "definition": (
        "Write the {kind_of} {names} of `{path}`, as {author} wrote it.",
        "Implement the {kind_of} {names} in `{path}`.",
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
    "file_continue": ("Write part {part} of `{path}` in the repository “{title}”.",),
    "definition_continue": (
        "Continue the {enclosing_kind} `{enclosing}` of `{path}`, as {author} wrote it.",
        "Write the next part of the {enclosing_kind} `{enclosing}` in `{path}`.",
    ),
    "members": (
        "Write the {kind_of} {names} of the class `{enclosing}` in `{path}`.",
        "Implement the {kind_of} {names} of `{enclosing}` (`{path}`), as {author} wrote them.",
    ),
    "about": ("Write a passage in {author}'s voice about {topic}.",),
}


@dataclass(frozen=True)
class OfflineInstruction:
    kind: str
    instruction: str
    answer: str  # the author's text the instruction asks for (the extract or a passage of it)


def quotes_answer(instruction: str, answer: str, words: int = QUOTE_RUN_WORDS) -> bool:
    """Whether ``instruction`` contains ``words`` consecutive words of ``answer`` (case-folded)."""
    answer_words = _WORD.findall(answer.casefold())
    if len(answer_words) < words:
        return False
    asked = " " + " ".join(_WORD.findall(instruction.casefold())) + " "
    return any(f" {' '.join(answer_words[i : i + words])} " in asked for i in range(len(answer_words) - words + 1))


def question_in(text: str) -> re.Match[str] | None:
    """The first question the text itself asks (a whole sentence of five words or more)."""
    for match in _QUESTION.finditer(text):
        question = " ".join(match.group().split())
        balanced = question.count("“") == question.count("”") and question.count('"') % 2 == 0
        if len(question.split()) >= 5 and balanced:
            return match
    return None


def passage_until_heading(text: str, start: int) -> str:
    """The text from ``start`` up to the next marked heading line (or the end)."""
    lines = text[start:].split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if index and is_heading(line):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _words(text: str) -> int:
    return len(text.split())


def topic_terms(extracts: Sequence[Extract], count: int = TOPIC_TERMS) -> dict[str, list[str]]:
    """Extract id -> its ``count`` most distinctive words (tf-idf over the extracts), in text order."""
    terms_of: dict[str, list[str]] = {}
    for extract in extracts:
        excluded = set(_TERM.findall(f"{extract.title or ''} {extract.author_full_name}".lower()))
        terms_of[extract.extract_id] = [
            t for t in _TERM.findall(extract.text.lower()) if t not in _STOPWORDS and t not in excluded
        ]
    frequency = Counter(t for terms in terms_of.values() for t in set(terms))
    chosen: dict[str, list[str]] = {}
    for extract_id, terms in terms_of.items():
        counts = Counter(terms)
        first_at = {t: i for i, t in reversed(list(enumerate(terms)))}
        scored = sorted(counts, key=lambda t: (-counts[t] * math.log(1 + len(extracts) / frequency[t]), first_at[t]))
        chosen[extract_id] = sorted(scored[:count], key=first_at.__getitem__)
    return chosen


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_UNTITLED = {Category.ARTICLES: "the article", Category.POSTS: "the post", Category.REPOSITORIES: "the repository"}


def _pick(kind: str, extract_id: str) -> str:
    phrasings = _TEMPLATES[kind]
    digest = hashlib.sha256(f"{kind}:{extract_id}".encode()).digest()
    return phrasings[digest[0] % len(phrasings)]


def _answered_question(extract: Extract, fields: dict[str, str]) -> str | None:
    """The passage after the first question of the extract, when it is long enough to answer it."""
    match = question_in(extract.text)
    if match is None:
        return None
    passage = passage_until_heading(extract.text, match.end())
    if _words(passage) < MIN_PASSAGE_WORDS:
        return None
    fields["question"] = " ".join(match.group().split())
    return passage


def _article_kind(extract: Extract, fields: dict[str, str]) -> tuple[str, str]:
    first_line = extract.text.split("\n", 1)[0]
    if extract.position == 0:
        return ("lead" if extract.title else "lead_untitled"), extract.text
    if extract.headings and is_heading(first_line) and heading_text(first_line) == extract.headings[0]:
        body = passage_until_heading(extract.text, len(first_line))
        if _words(body) >= MIN_PASSAGE_WORDS:
            fields["heading"] = extract.headings[0]
            return "section", body
    if (passage := _answered_question(extract, fields)) is not None:
        return "question", passage
    if extract.section:
        fields["heading"] = extract.section
        return "continue_section", extract.text
    return "sentence", extract.text


def _post_kind(extract: Extract, fields: dict[str, str]) -> tuple[str, str]:
    if (passage := _answered_question(extract, fields)) is not None:
        return "post_question", passage
    return "post", extract.text


def _repository_kind(extract: Extract, fields: dict[str, str]) -> tuple[str, str]:
    path = extract.section or "the repository"
    fields["path"] = path
    fields["part"] = str(extract.part + 1)
    if extract.part == 0:
        return ("file" if path.endswith(".py") else "document_file"), extract.text
    definitions = list(_DEFINITION.finditer(extract.text))
    if not definitions or not _starts_with(definitions[0], extract.text):
        if "enclosing" in fields:  # the body of a definition cut at its statements
            return "definition_continue", extract.text
        if not definitions:
            return "file_continue", extract.text
    first = definitions[0]
    fields["name"] = first.group(2)
    if not _starts_with(first, extract.text):
        return "file_part", extract.text
    # The definitions at the first one's indentation: the functions (or methods) the answer holds.
    indent = first.group(1)
    same_level = [d for d in definitions if d.group(1) == indent]
    kinds = {"class" if d.group().lstrip().startswith("class") else "function" for d in same_level}
    kind_of = "class" if kinds == {"class"} else ("method" if indent else "function")
    if len(same_level) > 1:
        kind_of = {"class": "classes", "function": "functions", "method": "methods"}[kind_of]
        if len(kinds) > 1:
            kind_of = "definitions"
    names = [f"`{d.group(2)}`" for d in same_level[:4]] + (["more"] if len(same_level) > 4 else [])
    fields["kind_of"], fields["names"] = kind_of, _listed(names)
    return ("members" if indent and fields.get("enclosing_kind") == "class" else "definition"), extract.text


def _starts_with(definition: re.Match[str], text: str) -> bool:
    """Only blank, comment and decorator lines come before ``definition`` in ``text``."""
    before = text[: definition.start()].split("\n")
    return all(not line.strip() or line.lstrip().startswith(("#", "@")) for line in before)


def enclosing_definition(previous: Sequence[str], text: str) -> tuple[str, str] | None:
    """(kind, name) of the definition an indented code extract is inside, from the extracts of its
    file before it: the last one defined at a smaller indentation."""
    first_line = next((line for line in text.split("\n") if line.strip()), "")
    indent = len(first_line) - len(first_line.lstrip())
    if not indent:
        return None
    found = None
    for match in _DEFINITION.finditer("\n".join(previous)):
        if len(match.group(1)) < indent:
            kind = "class" if match.group().lstrip().startswith("class") else "function"
            found = ("method" if kind == "function" and match.group(1) else kind, match.group(2))
    return found


_KINDS: Mapping[Category, Callable[[Extract, dict[str, str]], tuple[str, str]]] = {
    Category.ARTICLES: _article_kind,
    Category.POSTS: _post_kind,
    Category.REPOSITORIES: _repository_kind,
}


def instruction_for(
    extract: Extract, terms: Sequence[str] = (), enclosing: tuple[str, str] | None = None
) -> OfflineInstruction:
    """The instruction for one extract and the part of it that answers it (``terms``: its key terms;
    ``enclosing``: the definition a code extract is inside, see :func:`enclosing_definition`)."""
    topic = _listed(list(terms)) if terms else "the topic of this part"
    fields: dict[str, str] = {
        "author": extract.author_full_name or "the author",
        "title": extract.title or _UNTITLED[extract.category],
        "topic": topic,
    }
    if enclosing is not None:
        fields["enclosing_kind"], fields["enclosing"] = enclosing
    kind, answer = _KINDS[extract.category](extract, fields)
    instruction = _pick(kind, extract.extract_id).format(**fields)
    if quotes_answer(instruction, answer):
        # A title or heading that the text repeats word for word: name the key terms only.
        kind, instruction = "about", _pick("about", extract.extract_id).format(**fields)
    return OfflineInstruction(kind, instruction, answer)


def _distinct(
    samples: list[SftSample], terms: Mapping[str, Sequence[str]], parts: Mapping[str, int]
) -> list[SftSample]:
    seen: set[str] = set()
    out: list[SftSample] = []
    for sample in samples:
        instruction = sample.instruction
        if instruction in seen and terms.get(sample.extract_id):
            instruction = f"{instruction} Focus on {_listed(list(terms[sample.extract_id]))}."
        if instruction in seen:
            instruction = f"{instruction} (part {parts[sample.extract_id] + 1})"
        seen.add(instruction)
        out.append(sample.model_copy(update={"instruction": instruction}))
    return out


def generate_offline(extracts: Sequence[Extract]) -> list[GeneratedSample]:
    """One sample per extract, the answer being the author's text that the instruction asks for."""
    terms = topic_terms(extracts)
    samples = []
    earlier: dict[tuple[str, str | None], list[str]] = {}  # a file's extracts so far
    for extract in extracts:
        enclosing = None
        if extract.category is Category.REPOSITORIES:
            previous = earlier.setdefault((extract.document_id, extract.section), [])
            enclosing = enclosing_definition(previous, extract.text)
            previous.append(extract.text)
        made = instruction_for(extract, terms[extract.extract_id], enclosing)
        samples.append(
            SftSample(
                instruction=made.instruction,
                output=made.answer,
                document_id=extract.document_id,
                author_full_name=extract.author_full_name,
                category=extract.category,
                extract_id=extract.extract_id,
                source=extract.source,
                title=extract.title,
                instruction_kind=made.kind,
                generator=GENERATOR,
            )
        )
    parts = {e.extract_id: e.position for e in extracts}
    return [GeneratedSample(sample=s, chosen=s.output) for s in _distinct(samples, terms, parts)]
