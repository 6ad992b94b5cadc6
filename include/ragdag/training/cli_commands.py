"""``ragdag models list|show|promote|archive``: the model registry from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ragdag.cli_table import print_table


def _headline(metrics: dict[str, Any]) -> str:
    trained = metrics.get("trained", {})
    shown = [f"{k}={trained[k]:.4f}" for k in ("nll_per_byte", "rouge_l") if isinstance(trained.get(k), float)]
    return " ".join(shown)


def _cmd_list(args: argparse.Namespace) -> int:
    from ragdag.settings import get_settings
    from ragdag.training.registry import list_models

    records = list_models(get_settings(), stage=args.stage, status=args.status)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2, ensure_ascii=False))
        return 0
    if not records:
        print("no models in the registry")
        return 0
    rows = [("MODEL", "STATUS", "STAGE", "DATASET", "CREATED", "EVALUATION")] + [
        (
            r.model_id,
            r.status.value,
            r.stage.value if r.stage else "-",
            r.dataset_version,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            _headline((r.evaluation or {}).get("metrics", {})),
        )
        for r in records
    ]
    print_table(rows)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from ragdag.settings import get_settings
    from ragdag.training.registry import get_model, list_models

    settings = get_settings()
    if args.model_id == "production":
        found = list_models(settings, stage="production")
        record = found[0] if found else None
    else:
        record = get_model(settings, args.model_id)
    if record is None:
        print(f"error: no model {args.model_id!r} in the registry (see `ragdag models list`)", file=sys.stderr)
        return 1
    print(json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    from ragdag.settings import get_settings
    from ragdag.training.registry import RegistryError, archive_model, promote_model

    action = promote_model if args.models_command == "promote" else archive_model
    try:
        record = action(get_settings(), args.model_id, actor=args.by, reason=args.reason)
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    change = record.stage_history[-1]
    print(f"{record.model_id} is now {record.stage.value} (by {change.actor}: {change.reason})")
    return 0


def register(sub: Any) -> None:
    """Add the ``models`` command to the ``ragdag`` parser's subparsers."""
    models = sub.add_parser("models", help="List, show, promote or archive trained models.")
    actions = models.add_subparsers(dest="models_command", required=True)

    listing = actions.add_parser("list", help="Models in the registry, newest first.")
    listing.add_argument("--stage", choices=["candidate", "production", "archived"])
    listing.add_argument("--status", choices=["queued", "running", "succeeded", "failed"])
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=_cmd_list)

    show = actions.add_parser("show", help="One model's registry record (JSON); `production` for the one in use.")
    show.add_argument("model_id")
    show.set_defaults(func=_cmd_show)

    for name, text in (
        ("promote", "Make a model the production model (the current one is archived)."),
        ("archive", "Retire a model."),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("model_id")
        action.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        action.add_argument("--by", help="who (default: the current user)")
        action.set_defaults(func=_cmd_stage)
