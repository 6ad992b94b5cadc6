"""Evaluation of trained models on a dataset version's test split, before any promotion.

For each model (the base, the candidate, the current production model — all on the *same* test
split): the loss on the reference answers (mean per token, perplexity, and NLL per UTF-8 byte,
which stays comparable between models with different tokenizers), greedy generations for the
first N test instructions scored against the references with ROUGE-L, and, when the ``llm_default``
connection exists, an LLM judge scoring accuracy and style 1–3 as the LLM Twin reference does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragdag.training.rouge import rouge_l
from ragdag.training.train import format_prompt, init_tiny_model

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
    score: int = Field(ge=1, le=3)


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


def load_trained(model_dir: Path):
    """(model, tokenizer) of a model directory: full weights with transformers, an adapter with peft."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(model_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    return model.eval(), tokenizer


def load_base_of(model_dir: Path, metrics: dict[str, Any]):
    """The model the candidate started from: its LoRA base, or the tiny default's seeded init."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    adapter_config = model_dir / "adapter_config.json"
    if adapter_config.is_file():
        base = json.loads(adapter_config.read_text())["base_model_name_or_path"]
        return AutoModelForCausalLM.from_pretrained(base).eval(), tokenizer
    hyper = metrics.get("hyperparameters", {})
    model = init_tiny_model(tokenizer, int(hyper.get("seed", 42)), int(hyper.get("max_seq_length", 256)))
    return model.eval(), tokenizer


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def answer_losses(model, tokenizer, rows: list[dict], options: EvaluationOptions) -> dict[str, float]:
    """Loss on the reference answers only (the prompt is context), as training computes it."""
    import torch

    total_nll, total_tokens, total_bytes = 0.0, 0, 0
    with torch.no_grad():
        for row in rows:
            prompt = format_prompt(options.prompt_template, row["instruction"])
            answer = row["output"].strip()
            prompt_ids = _encode(tokenizer, prompt)
            full_ids = _encode(tokenizer, prompt + answer) + [tokenizer.eos_token_id]
            shared = 0
            while shared < min(len(prompt_ids), len(full_ids)) and prompt_ids[shared] == full_ids[shared]:
                shared += 1
            full_ids = full_ids[: options.max_seq_length]
            if shared >= len(full_ids):
                continue
            ids = torch.tensor([full_ids])
            labels = ids.clone()
            labels[0, :shared] = -100
            logits = model(input_ids=ids).logits[0, :-1].float()
            targets = labels[0, 1:]
            nll = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
            total_nll += float(nll)
            total_tokens += int((targets != -100).sum())
            total_bytes += len(answer.encode("utf-8"))
    if not total_tokens:
        raise ValueError("no test answer fits the maximum sequence length: nothing to evaluate")
    loss = total_nll / total_tokens
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "nll_per_byte": total_nll / max(total_bytes, 1),
        "answer_tokens": total_tokens,
    }


def generate_answers(model, tokenizer, instructions: list[str], options: EvaluationOptions) -> list[str]:
    import torch

    answers = []
    with torch.no_grad():
        for instruction in instructions:
            prompt = format_prompt(options.prompt_template, instruction)
            ids = torch.tensor([_encode(tokenizer, prompt)[-(options.max_seq_length - options.max_new_tokens) :]])
            output = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=options.max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
            answers.append(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return answers


def judge_answers(client, items: list[dict[str, str]]) -> list[JudgeVerdict | None]:
    """Accuracy and style 1–3 for each (instruction, answer); a reply that does not parse is None."""
    from ragdag.llm_client import LlmError

    requests = [
        [{"role": "user", "content": JUDGE_PROMPT.format(instruction=i["instruction"], answer=i["answer"])}]
        for i in items
    ]
    results = client.map_json(requests, JudgeVerdict)
    return [None if isinstance(r, LlmError) else r for r in results]


def evaluate_model(model, tokenizer, rows: list[dict], options: EvaluationOptions, judge=None) -> dict[str, Any]:
    """The metrics of one model on the test rows, and its scored generations."""
    metrics: dict[str, Any] = answer_losses(model, tokenizer, rows, options)
    sample = rows[: options.generations]
    answers = generate_answers(model, tokenizer, [r["instruction"] for r in sample], options)
    generations = [
        {"instruction": r["instruction"], "reference": r["output"], "answer": a, "rouge_l": rouge_l(a, r["output"])}
        for r, a in zip(sample, answers)
    ]
    if generations:
        metrics["rouge_l"] = sum(g["rouge_l"] for g in generations) / len(generations)
    if judge is not None and generations:
        verdicts = judge_answers(judge, generations)
        scored = [(g, v) for g, v in zip(generations, verdicts) if v is not None]
        for g, v in scored:
            g["judge"] = v.model_dump()
        if scored:
            metrics["judge_accuracy"] = sum(v.accuracy.score for _, v in scored) / len(scored)
            metrics["judge_style"] = sum(v.style.score for _, v in scored) / len(scored)
        metrics["judge_unparsed"] = len(verdicts) - len(scored)
    return {"metrics": metrics, "generations": generations}


class PromotionDecision(BaseModel):
    promote: bool
    reason: str
    metric: str
    margin: float
    candidate: float | None
    reference: float | None
    reference_model: str  # "base" or the production model id


def decide_promotion(
    candidate: dict[str, Any],
    reference: dict[str, Any],
    *,
    reference_name: str,
    metric: str,
    margin: float,
) -> PromotionDecision:
    """Promote only when the candidate beats the reference by more than ``margin`` on ``metric``."""
    higher = HIGHER_IS_BETTER[metric]
    mine, theirs = candidate.get(metric), reference.get(metric)

    def decision(promote: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            promote=promote,
            reason=reason,
            metric=metric,
            margin=margin,
            candidate=mine,
            reference=theirs,
            reference_model=reference_name,
        )

    if mine is None or theirs is None:
        missing = "the candidate" if mine is None else reference_name
        return decision(
            False, f"{metric} is not measured for {missing} (judge metrics need the llm_default connection)"
        )
    gain = (mine - theirs) if higher else (theirs - mine)
    direction = "higher" if higher else "lower"
    if gain > margin:
        return decision(
            True,
            f"{metric} {mine:.4f} beats {reference_name}'s {theirs:.4f} by {gain:.4f} "
            f"(> margin {margin}; {direction} is better)",
        )
    return decision(
        False,
        f"{metric} {mine:.4f} does not beat {reference_name}'s {theirs:.4f} by more than "
        f"the margin {margin} ({direction} is better)",
    )
