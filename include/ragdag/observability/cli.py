"""``ragdag runs``, ``ragdag lineage`` and ``ragdag docs``: the records, read by people."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _cmd_runs(args: argparse.Namespace) -> int:
    from ragdag.observability.run_records import list_runs
    from ragdag.settings import get_settings
    from ragdag.stores.mongo import mongo_database

    with mongo_database(get_settings()) as db:
        records = list_runs(db, stage=args.stage, run_id=args.run_id, limit=args.limit)
    if args.json:
        print(json.dumps([json.loads(r.model_dump_json()) for r in records], indent=2))
        return 0
    for r in records:
        seconds = f"{r.seconds:7.1f}s" if r.seconds is not None else "       -"
        where = f"{r.dag_id}.{r.task_id}" + (f"[{r.map_index}]" if r.map_index not in (None, -1) else "")
        print(
            f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.stage:9s} {r.status.value:8s} {seconds} {r.trigger.kind.value:8s} "
            f"{where if r.dag_id else '(direct)':40s} {r.run_id}  in {r.counts_in} out {r.counts_out}"
            + (f"  ERROR {r.error}" if r.error else "")
        )
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    from ragdag.observability.lineage import UnknownLineageId, lineage_of, render_text
    from ragdag.settings import get_settings

    try:
        graph = lineage_of(get_settings(), args.identifier)
    except UnknownLineageId as error:
        print(f"ragdag lineage: {error}")
        return 2
    print(graph.model_dump_json(indent=2) if args.json else render_text(graph))
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from ragdag.observability.docs_builder import build_docs
    from ragdag.settings import get_settings

    settings = get_settings()
    written = build_docs(settings, Path(args.out) if args.out else settings.data_dir / "docs")
    for path in written:
        print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="The run records of the stages (newest first).")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_sub.add_parser("list", help="List run records.")
    listing.add_argument("--stage", help="crawl, validate, embed, dataset or train")
    listing.add_argument("--run-id", help="only this Airflow run")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_cmd_runs)

    lineage = sub.add_parser("lineage", help="Model → dataset version → documents (hashes, suites, runs) → URLs.")
    lineage.add_argument("identifier", metavar="MODEL_ID|DATASET_VERSION|DOCUMENT_ID")
    lineage.add_argument("--json", action="store_true")
    lineage.set_defaults(func=_cmd_lineage)

    docs = sub.add_parser("docs", help="Documentation rendered from the records.")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True)
    build = docs_sub.add_parser(
        "build", help="Dataset card, model card and the system record (EU AI Act technical documentation)."
    )
    build.add_argument("--out", help="folder (default <data_dir>/docs)")
    build.set_defaults(func=_cmd_docs)
