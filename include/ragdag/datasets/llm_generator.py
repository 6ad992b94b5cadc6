"""The ``llm`` generator: an OpenAI-compatible model writes instruction–answer pairs per extract.

As in the LLM Twin reference: one request per extract (temperature 0.7, JSON output) asks for
``RAGDAG_LLM_PAIRS_PER_EXTRACT`` pairs. Each pair becomes an SFT sample whose output is the model's
answer, and a preference pair whose ``chosen`` is the author's own words (the passage the model
quoted, when it is really in the extract, else the whole extract) and whose ``rejected`` is the
model's answer. Replies that do not parse are counted and dropped; the token budget stops the run
early (the extracts not reached are counted); anything else the endpoint refuses after retries is
counted as failed.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field

from ragdag.datasets.records import Extract, GeneratedSample, SftSample
from ragdag.llm_client import LlmBudgetExhausted, LlmClient, LlmError, LlmMalformedReply
from ragdag.models import Category

GENERATOR = "llm"
PROMPT_FILE = "instruct_pairs.v1.txt"
_USER_MARK = "=== user ==="
_KIND = {
    Category.ARTICLES: "an article",
    Category.POSTS: "a social media post",
    Category.REPOSITORIES: "a code repository",
}
_MIN_PASSAGE_CHARS = 80


class GeneratedPair(BaseModel):
    instruction: str = Field(min_length=5)
    answer: str = Field(min_length=1)
    passage: str = ""


class GeneratedPairs(BaseModel):
    pairs: list[GeneratedPair] = Field(min_length=1)


def prompt_text() -> str:
    return resources.files("ragdag.datasets").joinpath("prompts", PROMPT_FILE).read_text(encoding="utf-8")


def prompt_version() -> str:
    """File name plus a hash of its text: an edit without a rename still shows in the manifest."""
    digest = hashlib.sha256(prompt_text().encode()).hexdigest()[:8]
    return f"{PROMPT_FILE.removesuffix('.txt')}+{digest}"


def messages_for(extract: Extract, pairs: int) -> list[dict[str, str]]:
    system, _, user = prompt_text().partition(_USER_MARK)
    filled = string.Template(user.strip()).substitute(
        pairs=pairs,
        kind=_KIND[extract.category],
        author=extract.author_full_name or "the author",
        title_part=f", titled “{extract.title}”" if extract.title else "",
        extract=extract.text,
    )
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": filled}]


def _in_extract(passage: str, extract: str) -> bool:
    return len(passage) >= _MIN_PASSAGE_CHARS and " ".join(passage.split()) in " ".join(extract.split())


def generate_with_llm(
    extracts: Sequence[Extract], client: LlmClient, *, pairs_per_extract: int
) -> tuple[list[GeneratedSample], dict[str, Any]]:
    """Samples for every extract the budget reaches, and what it cost (for the manifest)."""
    requests = [messages_for(extract, pairs_per_extract) for extract in extracts]
    replies = client.map_json(requests, GeneratedPairs)
    samples: list[GeneratedSample] = []
    stats = {
        "extracts": len(extracts),
        "extracts_answered": 0,
        "extracts_malformed": 0,
        "extracts_failed": 0,
        "extracts_not_reached": 0,
        "pairs": 0,
    }
    for extract, reply in zip(extracts, replies, strict=True):
        if isinstance(reply, LlmBudgetExhausted):
            stats["extracts_not_reached"] += 1
            continue
        if isinstance(reply, LlmMalformedReply):
            stats["extracts_malformed"] += 1
            continue
        if isinstance(reply, LlmError):
            stats["extracts_failed"] += 1
            continue
        stats["extracts_answered"] += 1
        for number, pair in enumerate(reply.pairs[:pairs_per_extract]):
            chosen = pair.passage.strip() if _in_extract(pair.passage, extract.text) else extract.text
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
    return samples, stats
