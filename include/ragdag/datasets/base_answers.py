"""The base model's own answers to a dataset's instructions: the rejected side of its preference pairs.

The standard twin recipe: ``chosen`` is the author's text, ``rejected`` is what the model to be
fine-tuned writes for the same instruction before it is trained, so DPO teaches the author's voice
over the model's. Answers are greedy (temperature 0, a fixed seed), in the base model's own chat
template, each within a token budget fitted to the chosen answer's length (its token count, up to
``RAGDAG_DATASET_REJECTED_MAX_TOKENS``), so the two sides are length-matched up to that cap; the
card reports what length bias remains. Every answer is cached by (instruction, model, budget,
engine), so a rebuild asks only for new instructions and the same inputs give the same version.

The engine (``RAGDAG_DATASET_REJECTED_BY``):

- ``base`` (default): the training base itself, when it is a GGUF (the packaged
  ``smollm2-135m-instruct``, or a ``.gguf`` path), run in-process by llama.cpp
  (``llama-cpp-python``): the same weights the training stage starts from;
- ``llm``: the OpenAI-compatible endpoint of the ``llm_default`` connection (for a base that
  runs on a server, such as a vLLM serving the base of a larger twin), under an enforced JSON schema.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragdag.datasets.generation_cache import GenerationCache
from ragdag.errors import PermanentError
from ragdag.packaged_models import PACKAGED_BASES, packaged_file
from ragdag.settings import Settings

log = logging.getLogger(__name__)

ENGINE_VERSION = "base-answers-1"
CACHE_KIND = "base-answer"
MIN_BUDGET = 16  # tokens: shorter chosen answers still get a sentence


class BaseAnswersUnavailable(PermanentError):
    """The configured engine cannot produce base answers here (names the setting to change)."""


class BaseAnswer(BaseModel):
    """The reply the ``llm`` engine asks for (a JSON schema the server enforces)."""

    answer: str = Field(min_length=1)


class BaseAnswers(BaseModel):
    """What :func:`base_answers` made: one answer per instruction ("" where none came), and where."""

    answers: list[str]
    model: str
    engine: str
    cache_hits: int = 0
    generated: int = 0


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_gguf(settings: Settings) -> Path:
    """The GGUF file of the training base, or :class:`BaseAnswersUnavailable`."""
    base = settings.training_base_model
    if base in PACKAGED_BASES:
        try:
            return packaged_file(base)
        except FileNotFoundError as error:
            raise BaseAnswersUnavailable(str(error)) from None
    path = Path(base).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise BaseAnswersUnavailable(
        f"RAGDAG_DATASET_REJECTED_BY=base needs a GGUF training base (RAGDAG_TRAINING_BASE_MODEL is {base!r}): "
        "serve the base on an OpenAI-compatible endpoint (llm_default) and set RAGDAG_DATASET_REJECTED_BY=llm"
    )


@lru_cache(maxsize=2)
def _llama(path: str, threads: int, context: int):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise BaseAnswersUnavailable(
            "RAGDAG_DATASET_REJECTED_BY=base needs llama-cpp-python (requirements.txt); "
            "or set RAGDAG_DATASET_REJECTED_BY=llm"
        ) from None
    return Llama(model_path=path, n_ctx=context, n_threads=threads, seed=0, verbose=False)


def _budget(token_count: int, cap: int) -> int:
    return max(MIN_BUDGET, min(cap, token_count))


def _generate_locally(
    settings: Settings, gguf: Path, prompts: Sequence[str], chosen: Sequence[str], cache: GenerationCache, model: str
) -> tuple[list[str], int]:
    # Half the CPUs: llama.cpp's threads wait on each other at every token, and a busy worker
    # (other tasks beside it) slows every thread count above the free cores many times over.
    threads = max(1, (os.cpu_count() or 2) // 2)
    llama = _llama(str(gguf), threads, settings.dataset_rejected_context_tokens)
    answers, generated = [], 0
    for prompt, answer in zip(prompts, chosen, strict=True):
        budget = _budget(
            len(llama.tokenize(answer.encode("utf-8"), add_bos=False)), settings.dataset_rejected_max_tokens
        )
        parts = _parts(prompt, model, budget, "llama.cpp", settings.dataset_seed)
        hit = cache.get(CACHE_KIND, parts)
        if hit is None:
            reply = llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                max_tokens=budget,
                temperature=0.0,
                seed=settings.dataset_seed,
            )
            hit = {"answer": (reply["choices"][0]["message"]["content"] or "").strip()}
            cache.put(CACHE_KIND, parts, hit)
            generated += 1
        answers.append(hit["answer"])
    return answers, generated


def _generate_with_endpoint(
    settings: Settings, prompts: Sequence[str], chosen: Sequence[str], cache: GenerationCache
) -> tuple[list[str], int, str]:
    from ragdag.llm_client import LlmError, open_llm_client

    with open_llm_client(settings, temperature=0.0) as client:
        model = f"llm:{client.model}"
        budgets = [_budget(max(1, len(a) // 4), settings.dataset_rejected_max_tokens) for a in chosen]
        parts = [_parts(p, model, b, "openai", settings.dataset_seed) for p, b in zip(prompts, budgets, strict=True)]
        answers: list[str | None] = [(cache.get(CACHE_KIND, p) or {}).get("answer") for p in parts]
        missing = [i for i, a in enumerate(answers) if a is None]
        requests = [[{"role": "user", "content": prompts[i]}] for i in missing]
        replies = client.map_json(requests, BaseAnswer) if missing else []
        for index, reply in zip(missing, replies, strict=True):
            if isinstance(reply, LlmError):
                log.warning("base answer %d: %s", index, type(reply).__name__)
                answers[index] = ""
                continue
            answers[index] = reply.answer.strip()
            cache.put(CACHE_KIND, parts[index], {"answer": answers[index]})
    return [a or "" for a in answers], len(missing), model


def _parts(prompt: str, model: str, budget: int, engine: str, seed: int) -> dict[str, Any]:
    return {
        "instruction_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
        "model": model,
        "max_tokens": budget,
        "engine": engine,
        "seed": seed,
        "version": ENGINE_VERSION,
    }


def base_answers(
    settings: Settings, cache: GenerationCache, prompts: Sequence[str], chosen: Sequence[str]
) -> BaseAnswers:
    """The base model's answer to each prompt (same order), each budgeted by its chosen answer."""
    before = cache.stats()["cache_hits"]
    if settings.dataset_rejected_by == "llm":
        answers, generated, model = _generate_with_endpoint(settings, prompts, chosen, cache)
        engine = "openai"
    else:
        gguf = base_gguf(settings)
        model = f"{settings.training_base_model or gguf.name}@{_sha256_file(gguf)[:12]}"
        answers, generated = _generate_locally(settings, gguf, prompts, chosen, cache, model)
        engine = "llama.cpp"
    hits = cache.stats()["cache_hits"] - before
    log.info("base answers: %d asked of %s (%s), %d from the cache", generated, model, engine, hits)
    return BaseAnswers(answers=answers, model=model, engine=engine, cache_hits=hits, generated=generated)
