"""The training entry point: the same script runs in a SageMaker training container and locally.

It follows SageMaker's conventions: channels in ``SM_CHANNEL_TRAIN`` / ``SM_CHANNEL_TEST`` (folders
with ``*.jsonl`` instruct samples), the model written to ``SM_MODEL_DIR``, hyperparameters as
``--name value`` arguments. What it trains is a byte-level language model on the instruct samples'
prompt/answer text — small enough for a CPU in seconds, so the whole chain runs on a laptop; a
production image swaps in a real base model behind the same arguments and outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def read_samples(channel: Path) -> list[dict]:
    samples = []
    for path in sorted(channel.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            samples.extend(json.loads(line) for line in handle if line.strip())
    return samples


def as_training_text(sample: dict) -> str:
    return f"### Instruction:\n{sample['instruction']}\n### Response:\n{sample['output']}\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, default=Path(os.environ.get("SM_CHANNEL_TRAIN", "train")))
    parser.add_argument("--test", type=Path, default=Path(os.environ.get("SM_CHANNEL_TEST", "test")))
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "model")))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def train(args: argparse.Namespace) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(args.seed)
    train_text = "".join(as_training_text(s) for s in read_samples(args.train)).encode("utf-8")
    test_text = "".join(as_training_text(s) for s in read_samples(args.test)).encode("utf-8")
    if len(train_text) <= args.context + 1:
        raise ValueError(f"training channel {args.train} has too little text to train on")
    train_ids = torch.tensor(list(train_text), dtype=torch.long)
    test_ids = torch.tensor(list(test_text or train_text), dtype=torch.long)

    model = nn.Sequential(nn.Embedding(256, 64), nn.GRU(64, 128, batch_first=True))
    head = nn.Linear(128, 256)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.learning_rate)
    loss_fn = nn.CrossEntropyLoss()

    def batch_loss(ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        span = max(1, len(ids) - args.context - 1)
        starts = torch.randint(0, span, (args.batch_size,), generator=generator)
        x = torch.stack([ids[s : s + args.context] for s in starts])
        y = torch.stack([ids[s + 1 : s + args.context + 1] for s in starts])
        hidden, _ = model(x)
        return loss_fn(head(hidden).reshape(-1, 256), y.reshape(-1))

    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    losses = []
    for _ in range(args.steps):
        optimizer.zero_grad()
        loss = batch_loss(train_ids, generator)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    with torch.no_grad():
        eval_generator = torch.Generator().manual_seed(args.seed + 1)
        test_loss = float(torch.stack([batch_loss(test_ids, eval_generator) for _ in range(4)]).mean())

    args.model_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"encoder": model.state_dict(), "head": head.state_dict()}, args.model_dir / "model.pt")
    metrics = {
        "train_loss_first": losses[0],
        "train_loss_last": losses[-1],
        "test_loss": test_loss,
        "steps": args.steps,
        "train_bytes": len(train_text),
        "test_bytes": len(test_text),
        "seconds": round(time.perf_counter() - started, 3),
    }
    (args.model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv: list[str] | None = None) -> int:
    metrics = train(parse_args(argv))
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
