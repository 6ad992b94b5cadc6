"""The ``llm`` generator: an OpenAI-compatible model writes instruction–answer pairs per extract.

As in the LLM Twin reference: one request per extract asks for ``RAGDAG_LLM_PAIRS_PER_EXTRACT``
pairs whose answers imitate the extract's own style. The reply is held to the JSON schema of
:class:`GeneratedPairs` by the server (structured outputs). The extract is fenced as data between
two marker lines named by its hash, which its own text cannot forge, and the prompt says that the
text between them is data, not instructions.

Each pair becomes an SFT sample whose output is the model's answer, and a candidate preference pair
whose ``chosen`` is the author's own words: the passage the model quoted, found in the extract
(whitespace and typographic quotes aside) and taken from it verbatim, widened to whole sentences.
A pair whose passage is not in the extract is dropped and counted; there is no whole-extract
fallback.

Replies are cached (:mod:`ragdag.datasets.generation_cache`) by the extract's hash, the prompt
version, the schema and the generation parameters (model, temperature, max_tokens, seed, pairs):
a rebuild asks only for extracts that changed, and the same inputs give the same pairs. Extracts
are asked in the order of their hashes, so a spent budget does not always leave the same end of the
corpus unasked; it fails the build (:class:`GenerationBudgetSpent`) rather than publish part of the
corpus, and what was answered stays cached. Requests the endpoint kept refusing fail it too, as an
error a task retry can fix (the retry asks only for those).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import string
from collections.abc import Sequence
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field

from ragdag.datasets.generation_cache import GenerationCache
from ragdag.datasets.records import Extract, GeneratedSample, SftSample
from ragdag.llm_client import (
    LlmBudgetExhausted,
    LlmClient,
    LlmError,
    LlmMalformedReply,
    LlmPermanentError,
    LlmRequestFailed,
    LlmTruncatedReply,
    json_schema_of,
)
from ragdag.models import Category

log = logging.getLogger(__name__)

GENERATOR = "llm"
PROMPT_FILE = "instruct_pairs.v2.txt"
CACHE_KIND = "llm-instruct-pairs"
_EXAMPLE_MARK = "=== example extract ==="
_REPLY_MARK = "=== example reply ==="
_USER_MARK = "=== user ==="
_KIND = {
    Category.ARTICLES: "an article",
    Category.POSTS: "a social media post",
    Category.REPOSITORIES: "a code repository",
}
_MIN_PASSAGE_CHARS = 80
_MAX_PASSAGE_CHARS = 700
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Typographic characters a model may write in their plain form; each maps to one character, so
# positions in the normalised text map back to the extract.
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")


class GeneratedPair(BaseModel):
    # The quote comes first: a model that has just copied the author's sentences writes an
    # instruction they answer (servers keep the schema's property order while decoding).
    passage: str
    instruction: str
    answer: str


class GeneratedPairs(BaseModel):
    pairs: list[GeneratedPair] = Field(min_length=1)


class GenerationBudgetSpent(LlmPermanentError):
    """The token budget ran out before every extract was answered: no version from part of the corpus."""


def prompt_text() -> str:
    return resources.files("ragdag.datasets").joinpath("prompts", PROMPT_FILE).read_text(encoding="utf-8")


def prompt_version() -> str:
    """File name plus a hash of its text: an edit without a rename still shows in the manifest."""
    digest = hashlib.sha256(prompt_text().encode()).hexdigest()[:8]
    return f"{PROMPT_FILE.removesuffix('.txt')}+{digest}"


def extract_digest(extract: Extract) -> str:
    """The sha256 of what the prompt reads of an extract (its text, category, author and title)."""
    read = [extract.category.value, extract.author_full_name, extract.title, extract.text]
    return hashlib.sha256(json.dumps(read, ensure_ascii=False).encode()).hexdigest()


def pairs_schema(pairs: int, passages: Sequence[str]) -> dict[str, Any]:
    """The schema the server enforces: :class:`GeneratedPairs`, at most ``pairs`` of them, each
    quoting one of the extract's ``passages`` (an ``enum``: the quote is verbatim by construction)."""
    schema = json_schema_of(GeneratedPairs)
    schema["properties"]["pairs"]["maxItems"] = pairs
    schema["$defs"]["GeneratedPair"]["properties"]["passage"]["enum"] = list(passages)
    return schema


def _prompt_sections() -> tuple[str, str, str, str]:
    """The prompt file's system text, example extract, example reply and user template."""
    text = prompt_text()
    system, rest = text.split(_EXAMPLE_MARK, 1)
    example, rest = rest.split(_REPLY_MARK, 1)
    reply, user = rest.split(_USER_MARK, 1)
    return system.strip(), example.strip(), reply.strip(), user.strip()


def _user_message(template: str, extract: Extract, pairs: int) -> str:
    return string.Template(template).substitute(
        pairs=pairs,
        kind=_KIND[extract.category],
        marker=extract_digest(extract)[:12],
        author=extract.author_full_name or "unknown",
        title=extract.title or "none",
        extract=extract.text,
    )


def messages_for(extract: Extract, pairs: int) -> list[dict[str, str]]:
    """System prompt, one worked example (an extract and its reply: small models need to see the
    shape filled in), then the extract."""
    system, example_text, example_reply, user = _prompt_sections()
    example = Extract(
        extract_id="example:0",
        document_id="example",
        position=0,
        category=Category.POSTS,
        author_full_name="A. Writer",
        title="Retries",
        chunk_indexes=[0],
        text=example_text,
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _user_message(user, example, 1)},
        {"role": "assistant", "content": example_reply},
        {"role": "user", "content": _user_message(user, extract, pairs)},
    ]


def _normalised(text: str) -> str:
    return " ".join(text.translate(_PLAIN).split())


def _split(text: str, max_chars: int, *, lines: bool) -> list[str]:
    """``text`` in runs of whole sentences (whole lines for code) of at most ``max_chars``, where it can."""
    if len(text) <= max_chars:
        return [text]
    if lines:
        units = text.splitlines(keepends=True)
    else:
        cuts = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
        units = [text[i:j] for i, j in zip(cuts, cuts[1:], strict=False) if text[i:j]]
    runs: list[str] = []
    for unit in units:
        if runs and len(runs[-1]) + len(unit) <= max_chars:
            runs[-1] += unit
        else:
            runs.append(unit)
    return [run.rstrip() if lines else run.strip() for run in runs]


def passages_of(extract: Extract) -> list[str]:
    """The author's passages a reply may quote as ``chosen``, verbatim: the extract's paragraphs
    (blocks between blank lines), long ones in runs of whole sentences (lines, for code), short
    ones (headings, bylines) left out."""
    lines = extract.category == Category.REPOSITORIES
    found: list[str] = []
    for block in _PARAGRAPH_BREAK.split(extract.text):
        block = block.rstrip() if lines else block.strip()
        for passage in _split(block.strip("\n"), _MAX_PASSAGE_CHARS, lines=lines):
            if len(passage.strip()) >= _MIN_PASSAGE_CHARS and passage not in found:
                found.append(passage)
    return found


def _chosen(quote: str, passages: Sequence[str]) -> str | None:
    """The passage ``quote`` copies (whitespace and typographic quotes aside), as the author wrote it."""
    wanted = _normalised(quote)
    return next((p for p in passages if _normalised(p) == wanted), None)


def _usable_instruction(instruction: str, chosen: str) -> bool:
    """At least three words, and not a quote of its own answer."""
    text = _normalised(instruction).casefold()
    return len(text.split()) >= 3 and text.rstrip(".?!") not in _normalised(chosen).casefold()


def _cache_parts(digest: str, pairs: int, client: LlmClient) -> dict[str, Any]:
    schema = json.dumps(json_schema_of(GeneratedPairs), sort_keys=True)
    return {
        "extract_sha256": digest,
        "prompt_version": prompt_version(),
        "schema_sha256": hashlib.sha256(schema.encode()).hexdigest(),
        "pairs": pairs,
        **client.generation_params(),
    }


def _replies(
    extracts: Sequence[Extract], client: LlmClient, cache: GenerationCache, pairs: int, stats: dict[str, int]
) -> dict[str, GeneratedPairs | LlmError]:
    """Extract digest -> its reply: from the cache, else asked, in the order of the digests."""
    by_digest = {extract_digest(e): e for e in extracts if passages_of(e)}
    replies: dict[str, GeneratedPairs | LlmError] = {}
    ask: list[str] = []
    for digest in sorted(by_digest):
        cached = cache.get(CACHE_KIND, _cache_parts(digest, pairs, client))
        if cached is None:
            ask.append(digest)
        elif "malformed" in cached:
            replies[digest] = LlmMalformedReply(f"cached: {cached['malformed']}")
        else:
            replies[digest] = GeneratedPairs.model_validate(cached["reply"])
    stats["extracts_cached"] = len(by_digest) - len(ask)

    def keep(index: int, reply: GeneratedPairs | LlmError) -> None:
        # Stored as each reply arrives: a run that stops half-way keeps what it paid for. A malformed
        # reply is kept too (the same parameters would ask the same again); a failed request is not.
        parts = _cache_parts(ask[index], pairs, client)
        if isinstance(reply, GeneratedPairs):
            cache.put(CACHE_KIND, parts, {"reply": reply.model_dump()})
        elif isinstance(reply, LlmMalformedReply):
            cache.put(CACHE_KIND, parts, {"malformed": str(reply)[:300]})

    asked = [by_digest[digest] for digest in ask]
    results = client.map_json(
        [messages_for(extract, pairs) for extract in asked],
        GeneratedPairs,
        json_schemas=[pairs_schema(pairs, passages_of(extract)) for extract in asked],
        on_result=keep,
    )
    replies.update(zip(ask, results, strict=True))
    return replies


def generate_with_llm(
    extracts: Sequence[Extract], client: LlmClient, cache: GenerationCache, *, pairs_per_extract: int
) -> tuple[list[GeneratedSample], dict[str, Any]]:
    """Samples for every extract, and what it took (for the manifest).

    Raises :class:`GenerationBudgetSpent` when the token budget ran out first, and
    :class:`LlmRequestFailed` when requests kept failing (after the client's retries).
    """
    stats = {
        "extracts": len(extracts),
        "extracts_without_passage": 0,
        "extracts_cached": 0,
        "extracts_answered": 0,
        "extracts_malformed": 0,
        "extracts_truncated": 0,
        "extracts_failed": 0,
        "extracts_not_reached": 0,
        "pairs": 0,
        "pairs_passage_not_in_extract": 0,
        "pairs_instruction_unusable": 0,
    }
    replies = _replies(extracts, client, cache, pairs_per_extract, stats)
    samples: list[GeneratedSample] = []
    for extract in extracts:
        reply = replies.get(extract_digest(extract))
        if reply is None:
            stats["extracts_without_passage"] += 1
        elif isinstance(reply, LlmBudgetExhausted):
            stats["extracts_not_reached"] += 1
        elif isinstance(reply, LlmTruncatedReply):
            stats["extracts_truncated"] += 1
            stats["extracts_malformed"] += 1
        elif isinstance(reply, LlmMalformedReply):
            stats["extracts_malformed"] += 1
        elif isinstance(reply, LlmError):
            stats["extracts_failed"] += 1
        else:
            stats["extracts_answered"] += 1
            samples += _samples_of(extract, reply, pairs_per_extract, stats)
    _fail_on_holes(stats, client)
    return samples, stats


def _samples_of(
    extract: Extract, reply: GeneratedPairs, pairs_per_extract: int, stats: dict[str, int]
) -> list[GeneratedSample]:
    samples = []
    passages = passages_of(extract)
    for number, pair in enumerate(reply.pairs[:pairs_per_extract]):
        chosen = _chosen(pair.passage, passages)
        if chosen is None:
            stats["pairs_passage_not_in_extract"] += 1
            continue
        if not _usable_instruction(pair.instruction, chosen):
            stats["pairs_instruction_unusable"] += 1
            continue
        sample = SftSample(
            instruction=pair.instruction.strip(),
            output=pair.answer.strip(),
            document_id=extract.document_id,
            author_full_name=extract.author_full_name,
            category=extract.category,
            extract_id=f"{extract.extract_id}#{number}",
            source=extract.source,
            title=extract.title,
            instruction_kind="llm",
            generator=GENERATOR,
        )
        samples.append(GeneratedSample(sample=sample, chosen=chosen, model_answer=pair.answer.strip()))
        stats["pairs"] += 1
    return samples


def _fail_on_holes(stats: dict[str, int], client: LlmClient) -> None:
    """No version from part of the corpus: a spent budget and failed requests stop the build."""
    answered = (
        stats["extracts"] - stats["extracts_without_passage"] - stats["extracts_not_reached"] - stats["extracts_failed"]
    )
    if stats["extracts_not_reached"]:
        asked = max(1, answered - stats["extracts_cached"])
        per_extract = client.usage.total_tokens / asked
        more = int(per_extract * stats["extracts_not_reached"]) + 1
        raise GenerationBudgetSpent(
            f"the LLM token budget (RAGDAG_LLM_TOKEN_BUDGET={client.token_budget}) was spent with "
            f"{stats['extracts_not_reached']} of {stats['extracts']} extracts not asked; no version is published "
            f"from part of the corpus. The {answered} replies so far are cached: raise RAGDAG_LLM_TOKEN_BUDGET "
            f"(about {more} more tokens at this run's {per_extract:.0f} an extract) and build again; only the "
            "extracts not yet answered are asked"
        )
    if stats["extracts_failed"]:
        raise LlmRequestFailed(
            f"{stats['extracts_failed']} of {stats['extracts']} extracts' requests failed after "
            f"{client.usage.retries} retries in all; the {answered} replies so far are cached, a retry asks "
            "only for the rest"
        )
