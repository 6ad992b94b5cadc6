"""``ragdag search``: query the embedded chunks, or measure retrieval (``--eval``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ragdag.models import Category

_SNIPPET_CHARS = 300


def _print_hits(hits: list[Any]) -> None:
    if not hits:
        print("no results (is the index built? run the embed_documents DAG first)")
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())
        if len(snippet) > _SNIPPET_CHARS:
            snippet = snippet[:_SNIPPET_CHARS] + "…"
        where = f"{hit.url} (chunk {hit.chunk_index})"
        print(f"{rank}. {hit.score:.3f}  [{hit.category}] {hit.author_full_name} — {where}")
        print(f"   {snippet}")


def _cmd_search(args: argparse.Namespace) -> int:
    from ragdag.features.embedding import load_embedder
    from ragdag.features.retrieval import evaluate_with, search_with
    from ragdag.settings import get_settings
    from ragdag.stores.qdrant import qdrant_client

    if not args.query and not args.eval:
        raise SystemExit('ragdag search: give a query ("text to find") or --eval')
    settings = get_settings()
    embedder = load_embedder(settings)
    # One client for both: Qdrant local mode lets a path be opened once at a time.
    with qdrant_client(settings) as client:
        if args.query:
            hits = search_with(client, embedder, args.query, k=args.k, author=args.author, category=args.category)
            if args.json:
                print(json.dumps([h.model_dump() for h in hits], ensure_ascii=False))
            else:
                _print_hits(hits)
        if args.eval:
            evaluation = evaluate_with(
                client,
                embedder,
                sample_size=args.sample_size,
                k=args.k,
                batch_size=settings.embedding_batch_size,
            )
            if args.json:
                print(evaluation.model_dump_json())
            elif evaluation.hit_rate is None:
                print("retrieval hit rate: nothing to evaluate (no embedded documents)")
            else:
                print(
                    f"retrieval hit rate @{evaluation.k}: {evaluation.hit_rate:.3f} "
                    f"({evaluation.hits}/{evaluation.sample_size} documents found by their own "
                    "query)"
                )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``search`` to the ``ragdag`` command line."""
    parser = sub.add_parser("search", help="Semantic search over the embedded chunks (or --eval).")
    parser.add_argument("query", nargs="?", help="text to search for")
    parser.add_argument("--author", help="only chunks of this author (full name)")
    parser.add_argument("--category", choices=[c.value for c in Category])
    parser.add_argument("-k", type=int, default=5, help="number of chunks (default 5)")
    parser.add_argument(
        "--eval",
        action="store_true",
        help="measure retrieval: share of sampled documents whose title (or a sentence) finds them in the top k",
    )
    parser.add_argument("--sample-size", type=int, default=50, help="documents sampled by --eval")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_cmd_search)
