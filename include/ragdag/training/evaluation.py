"""Evaluation of trained models on a dataset version's test split, before any promotion.

For each model (the base, the candidate, the current production model — all on the *same* test
split): the loss on the reference answers (mean per token, perplexity, and NLL per UTF-8 byte,
which stays comparable between models with different tokenizers), kept per answer so that a
promotion can bootstrap its interval; the DPO implicit-reward accuracy on the test preference
pairs (the candidate against its base as the reference policy); greedy generations for the first
N test instructions, each with a token budget fitted to its reference's length, scored against
the references with ROUGE-L; and, when the ``llm_default`` connection exists, an LLM judge scoring
accuracy and style 1–3 as the LLM Twin reference does. Every score carries its sample count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ragdag.training.rouge import rouge_l
from ragdag.training.train import base_of, format_prompt, init_tiny_model, load_pretrained

# Direction of each metric a promotion may compare on (True: higher is better).
HIGHER_IS_BETTER = {
    "nll_per_byte": False,
    "loss": False,
    "perplexity": False,
    "rouge_l": True,
    "judge_accuracy": True,
    "judge_style": True,
}

JUDGE_PROMPT = """You are an expert judge. Please evaluate the quality of a given answer to an instruction based on two criteria:
1. Accuracy: How factually correct is the information presented in the answer? You are a technical expert in this topic.
2. Style: Is the tone and writing style appropriate for a blog post or social media content? It should use simple but technical words and avoid formal or academic language.

Accuracy scale:
1 (Poor): Contains factual errors or misleading information
2 (Good): Mostly accurate with minor errors or omissions
3 (Excellent): Highly accurate and comprehensive

Style scale:
1 (Poor): Too formal, uses some overly complex words
2 (Good): Good balance of technical content and accessibility, but still uses formal words and expressions
3 (Excellent): Perfectly accessible language for blog/social media, uses simple but precise technical terms when necessary

Example of bad style: The Llama2 7B model constitutes a noteworthy progression in the field of artificial intelligence, serving as the successor to its predecessor, the original Llama architecture.
Example of excellent style: Llama2 7B outperforms the original Llama model across multiple benchmarks.

Instruction: {instruction}

Answer: {answer}

Provide your evaluation in JSON format with the following structure:
{{
    "accuracy": {{
        "analysis": "...",
        "score": 0
    }},
    "style": {{
        "analysis": "...",
        "score": 0
    }}
}}"""


class JudgedCriterion(BaseModel):
    analysis: str = ""
    # An enum, not ge/le: servers enforce an enum in the reply's schema (llama.cpp ignores bounds).
    score: Literal[1, 2, 3]


class JudgeVerdict(BaseModel):
    accuracy: JudgedCriterion
    style: JudgedCriterion


class EvaluationOptions(BaseModel):
    prompt_template: str
    max_seq_length: int
    generations: int
    max_new_tokens: int
    num_threads: int = 0


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Evaluate with a fixed thread count (reproducible), restoring the worker's afterwards."""
    import torch

    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_trained(model_dir: Path, cache_dir: str = ""):
    """(model, tokenizer) of a model directory: full weights with transformers, an adapter on its base."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = base_of(model_dir)
    if base is None:
        return AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    model, tokenizer = load_pretrained(base, cache_dir)
    return with_adapter(model, model_dir), tokenizer


def with_adapter(base_model, model_dir: Path):
    """``base_model`` with the LoRA adapter of ``model_dir`` (the base object is wrapped, not copied:
    evaluate the base before)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, model_dir).eval()


def load_base_of(model_dir: Path, metrics: dict[str, Any], cache_dir: str = ""):
    """The model the candidate started from: its LoRA base, or the tiny default's seeded init."""
    base = base_of(model_dir)
    if base is not None:
        model, tokenizer = load_pretrained(base, cache_dir)
        return model.eval(), tokenizer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    hyper = metrics.get("hyperparameters", {})
    model = init_tiny_model(tokenizer, int(hyper.get("seed", 42)), int(hyper.get("max_seq_length", 256)))
    return model.eval(), tokenizer


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def answer_nll(model, tokenizer, instruction: str, answer: str, options: EvaluationOptions) -> dict[str, float] | None:
    """Summed NLL of ``answer`` (and the eos that ends it) after the prompt of ``instruction``, its
    token and UTF-8 byte counts; None when the prompt leaves no room in the maximum sequence length."""
    import torch

    prompt = format_prompt(options.prompt_template, instruction, tokenizer)
    answer = answer.strip()
    prompt_ids = _encode(tokenizer, prompt)
    full_ids = _encode(tokenizer, prompt + answer) + [tokenizer.eos_token_id]
    shared = 0
    while shared < min(len(prompt_ids), len(full_ids)) and prompt_ids[shared] == full_ids[shared]:
        shared += 1
    answer_tokens = len(full_ids) - shared  # the answer and its eos, before the length cut
    full_ids = full_ids[: options.max_seq_length]
    if shared >= len(full_ids):
        return None
    ids = torch.tensor([full_ids])
    labels = ids.clone()
    labels[0, :shared] = -100
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    targets = labels[0, 1:]
    nll = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
    # Bytes of the answer part that fit: the share of its tokens that were scored.
    scored = int((targets != -100).sum())
    size = len(answer.encode("utf-8")) * min(1.0, scored / max(answer_tokens, 1))
    return {"nll": float(nll), "tokens": scored, "bytes": size}


def loss_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean loss per token, perplexity and NLL per byte of scored answers (:func:`answer_nll`)."""
    nll = sum(r["nll"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    loss = nll / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "nll_per_byte": nll / max(sum(r["bytes"] for r in rows), 1),
        "answer_tokens": tokens,
        "answers_scored": len(rows),
    }


def answer_losses(model, tokenizer, rows: list[dict], options: EvaluationOptions) -> dict[str, Any]:
    """Loss on the reference answers only (the prompt is context), as training computes it, with the
    per-answer figures behind it (``per_answer``, in the order of ``rows``; None: did not fit)."""
    per_answer = [answer_nll(model, tokenizer, r["instruction"], r["output"], options) for r in rows]
    scored = [r for r in per_answer if r is not None]
    if not scored:
        raise ValueError("no test answer fits the maximum sequence length: nothing to evaluate")
    return {**loss_metrics(scored), "per_answer": per_answer}


def generation_budget(tokenizer, reference: str, cap: int) -> int:
    """Tokens to generate for an answer whose reference is ``reference``: its length plus a fifth, capped."""
    return max(8, min(cap, math.ceil(1.2 * len(_encode(tokenizer, reference.strip())))))


def generate_answers(model, tokenizer, rows: list[dict], options: EvaluationOptions) -> list[str]:
    """Greedy answers to the rows' instructions, each within its :func:`generation_budget`."""
    import torch

    answers = []
    with torch.no_grad():
        for row in rows:
            budget = generation_budget(tokenizer, row["output"], options.max_new_tokens)
            prompt = format_prompt(options.prompt_template, row["instruction"], tokenizer)
            ids = torch.tensor([_encode(tokenizer, prompt)[-max(1, options.max_seq_length - budget) :]])
            output = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=budget,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
            answers.append(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return answers


def pair_nlls(model, tokenizer, pairs: list[dict], options: EvaluationOptions) -> list[dict[str, float] | None]:
    """For each preference pair (prompt, chosen, rejected): the summed NLL of each answer."""
    out: list[dict[str, float] | None] = []
    for pair in pairs:
        chosen = answer_nll(model, tokenizer, pair["prompt"], pair["chosen"], options)
        rejected = answer_nll(model, tokenizer, pair["prompt"], pair["rejected"], options)
        out.append(
            None if chosen is None or rejected is None else {"chosen": chosen["nll"], "rejected": rejected["nll"]}
        )
    return out


def reward_accuracy(policy: list[dict | None], reference: list[dict | None], beta: float) -> dict[str, float]:
    """DPO's implicit-reward accuracy and mean margin: the share of pairs where the policy raised the
    chosen answer's log-likelihood over the reference's by more than the rejected one's."""
    margins = [
        beta * ((r["chosen"] - p["chosen"]) - (r["rejected"] - p["rejected"]))
        for p, r in zip(policy, reference)
        if p is not None and r is not None
    ]
    if not margins:
        return {}
    return {
        "dpo_reward_accuracy": sum(m > 0 for m in margins) / len(margins),
        "dpo_reward_margin": sum(margins) / len(margins),
        "dpo_pairs": len(margins),
    }


def judge_answers(client, items: list[dict[str, str]]) -> list[JudgeVerdict | None]:
    """Accuracy and style 1–3 for each (instruction, answer); a reply that does not parse is None."""
    from ragdag.llm_client import LlmError

    requests = [
        [{"role": "user", "content": JUDGE_PROMPT.format(instruction=i["instruction"], answer=i["answer"])}]
        for i in items
    ]
    results = client.map_json(requests, JudgeVerdict)
    return [None if isinstance(r, LlmError) else r for r in results]


def evaluate_model(
    model, tokenizer, rows: list[dict], options: EvaluationOptions, judge=None, pairs: list[dict] | None = None
) -> dict[str, Any]:
    """The metrics of one model on the test rows (the per-answer figures under ``per_answer``), its
    scored generations and, given test preference pairs, their answers' NLLs (``pairs``)."""
    losses = answer_losses(model, tokenizer, rows, options)
    per_answer = losses.pop("per_answer")
    metrics: dict[str, Any] = losses
    sample = rows[: options.generations]
    answers = generate_answers(model, tokenizer, sample, options)
    generations = [
        {"instruction": r["instruction"], "reference": r["output"], "answer": a, "rouge_l": rouge_l(a, r["output"])}
        for r, a in zip(sample, answers)
    ]
    if generations:
        metrics["rouge_l"] = sum(g["rouge_l"] for g in generations) / len(generations)
        metrics["rouge_l_samples"] = len(generations)
    if judge is not None and generations:
        verdicts = judge_answers(judge, generations)
        scored = [(g, v) for g, v in zip(generations, verdicts) if v is not None]
        for g, v in scored:
            g["judge"] = v.model_dump()
        if scored:
            metrics["judge_accuracy"] = sum(v.accuracy.score for _, v in scored) / len(scored)
            metrics["judge_style"] = sum(v.style.score for _, v in scored) / len(scored)
        metrics["judge_samples"] = len(scored)
        metrics["judge_unparsed"] = len(verdicts) - len(scored)
    result: dict[str, Any] = {"metrics": metrics, "generations": generations, "per_answer": per_answer}
    if pairs:
        result["pairs"] = pair_nlls(model, tokenizer, pairs, options)
    return result


class PromotionDecision(BaseModel):
    promote: bool
    reason: str
    metric: str
    margin: float
    candidate: float | None
    reference: float | None
    reference_model: str  # "base" or the production model id
    improvement: float | None = None  # relative: (reference - candidate) / reference, sign by direction
    interval: list[float] | None = None  # [low, high] of the improvement's bootstrap interval
    confidence: float | None = None
    samples: int | None = None  # test answers (or generations) behind it
    resamples: int | None = None


def _statistic(metric: str, rows: list[dict[str, float]]) -> float:
    """One model's ``metric`` over per-answer rows ({nll, tokens, bytes} or {value})."""
    if metric in ("nll_per_byte", "loss", "perplexity"):
        nll = sum(r["nll"] for r in rows)
        if metric == "nll_per_byte":
            return nll / max(sum(r["bytes"] for r in rows), 1e-9)
        loss = nll / max(sum(r["tokens"] for r in rows), 1)
        return loss if metric == "loss" else math.exp(min(loss, 50.0))
    return sum(r["value"] for r in rows) / len(rows)


def per_answer_rows(result: dict[str, Any], metric: str) -> list[dict[str, float] | None]:
    """The rows a bootstrap of ``metric`` resamples, in test-split order (None: not measured)."""
    if metric in ("nll_per_byte", "loss", "perplexity"):
        return list(result.get("per_answer") or [])
    key = {"rouge_l": "rouge_l", "judge_accuracy": "accuracy", "judge_style": "style"}[metric]
    rows: list[dict[str, float] | None] = []
    for generation in result.get("generations") or []:
        if metric == "rouge_l":
            rows.append({"value": float(generation["rouge_l"])})
        else:
            verdict = generation.get("judge")
            rows.append({"value": float(verdict[key]["score"])} if verdict else None)
    return rows


def relative_improvement(metric: str, candidate: float, reference: float) -> float:
    """How much better the candidate is, as a share of the reference (positive: better)."""
    gain = (candidate - reference) if HIGHER_IS_BETTER[metric] else (reference - candidate)
    return gain / abs(reference) if reference else math.inf if gain > 0 else 0.0


def bootstrap_improvement(
    metric: str,
    candidate_rows: list[dict[str, float] | None],
    reference_rows: list[dict[str, float] | None],
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float, int]:
    """(improvement, low, high, n): the relative improvement on the answers both models were scored
    on and its paired percentile-bootstrap interval (the same resampled answers for both models)."""
    import random

    paired = [(c, r) for c, r in zip(candidate_rows, reference_rows) if c is not None and r is not None]
    if not paired:
        raise ValueError(f"no test answer was scored for both models on {metric}")
    cands, refs = [c for c, _ in paired], [r for _, r in paired]
    point = relative_improvement(metric, _statistic(metric, cands), _statistic(metric, refs))
    rng = random.Random(seed)
    n = len(paired)
    draws = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        draws.append(
            relative_improvement(
                metric, _statistic(metric, [cands[i] for i in picks]), _statistic(metric, [refs[i] for i in picks])
            )
        )
    draws.sort()
    tail = (1 - confidence) / 2
    low = draws[min(resamples - 1, int(math.floor(tail * resamples)))]
    high = draws[min(resamples - 1, int(math.ceil((1 - tail) * resamples)) - 1)]
    return point, low, high, n


def decide_promotion(
    candidate: dict[str, Any],
    reference: dict[str, Any],
    *,
    reference_name: str,
    metric: str,
    margin: float,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PromotionDecision:
    """Promote only when the lower bound of the bootstrap interval of the candidate's relative
    improvement over the reference on ``metric`` is above ``margin``. ``candidate`` and
    ``reference`` are :func:`evaluate_model` results on the same test split."""
    mine, theirs = candidate["metrics"].get(metric), reference["metrics"].get(metric)

    def decision(promote: bool, reason: str, **measured: Any) -> PromotionDecision:
        return PromotionDecision(
            promote=promote,
            reason=reason,
            metric=metric,
            margin=margin,
            candidate=mine,
            reference=theirs,
            reference_model=reference_name,
            **measured,
        )

    if mine is None or theirs is None:
        missing = "the candidate" if mine is None else reference_name
        return decision(
            False, f"{metric} is not measured for {missing} (judge metrics need the llm_default connection)"
        )
    try:
        point, low, high, n = bootstrap_improvement(
            metric,
            per_answer_rows(candidate, metric),
            per_answer_rows(reference, metric),
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
    except ValueError as error:
        return decision(False, f"{error}: no interval, no promotion")
    direction = "higher" if HIGHER_IS_BETTER[metric] else "lower"
    interval = f"{confidence:.0%} interval {low:+.1%} to {high:+.1%}, {resamples} resamples of {n} test answers"
    said = (
        f"{metric} {mine:.4f} against {reference_name}'s {theirs:.4f} ({direction} is better): "
        f"{point:+.1%} ({interval})"
    )
    measured = {
        "improvement": point,
        "interval": [low, high],
        "confidence": confidence,
        "samples": n,
        "resamples": resamples,
    }
    if low > margin:
        return decision(True, f"{said}; its lower bound beats the margin {margin:.1%}", **measured)
    return decision(False, f"{said}; its lower bound does not beat the margin {margin:.1%}", **measured)
