"""The ``ragdag`` command line: one entry point for people, the README's main job and the tests."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path


def _cmd_extract(args: argparse.Namespace) -> int:
    from ragdag.crawling.extraction import extract_article

    target: str = args.path_or_url
    if target.startswith(("http://", "https://")):
        from ragdag.crawling.fetching.fetcher import fetch_page

        page = fetch_page(target)
        article = extract_article(page.content, url=page.final_url)
    else:
        article = extract_article(Path(target).read_bytes(), url=None)
    print(json.dumps(article.model_dump(mode="json"), ensure_ascii=False))
    return 0


def _cmd_services(args: argparse.Namespace) -> int:
    from ragdag.settings import get_settings
    from ragdag.stores import embedded_mongo

    settings = get_settings()
    if args.action == "start":
        server = embedded_mongo.start(settings.mongo_data_dir, settings.embedded_mongo_port)
        print(f"embedded MongoDB running: {server.uri} (pid {server.pid}, data {settings.mongo_data_dir})")
    elif args.action == "stop":
        stopped = embedded_mongo.stop(settings.mongo_data_dir)
        print("embedded MongoDB stopped" if stopped else "embedded MongoDB was not running")
    else:
        state = embedded_mongo.status(settings.mongo_data_dir)
        print(f"embedded MongoDB: {'running ' + state.uri if state.running else 'stopped'}")
        print(f"Qdrant local mode: {settings.qdrant_path}")
        print(f"object store: {settings.object_store_root}")
        print(f"training backend: {settings.training_backend}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the whole chain on sample data, on the embedded defaults."""
    os.environ.setdefault("RAGDAG_ALLOW_PRIVATE_NETWORKS", "true")  # the sample site is on loopback
    os.environ.setdefault("RAGDAG_PER_HOST_DELAY_S", "0.05")
    from ragdag.demo.chain import chain_succeeded, prepare_airflow_home, run_chain
    from ragdag.demo.site import sample_sources, serve_sample_site
    from ragdag.demo.social_apis import demo_post_sources, serve_social_apis
    from ragdag.demo.summary import platform_summary
    from ragdag.settings import get_settings

    get_settings.cache_clear()
    home = prepare_airflow_home()
    with serve_sample_site() as base_url, serve_social_apis() as api_url:
        data_dir = get_settings().data_dir
        conf = {
            "author": args.author,
            "links": sample_sources(base_url, data_dir),
            "posts": demo_post_sources(api_url, data_dir),
        }
        print(
            f"crawling {len(conf['links'])} sample sources ({base_url} and a git repository) and "
            f"{len(conf['posts'])} posts sources (Mastodon and Bluesky on {api_url}, a LinkedIn archive) "
            f"as {args.author!r}"
        )
        runs = run_chain(conf)
    for run in runs:
        print(f"{run.dag_id:24s} {run.state:8s} {run.seconds:7.1f}s  {run.run_id}")
    print(json.dumps(platform_summary(get_settings()), indent=2, default=str))
    print(f"Airflow home: {home}")
    return 0 if chain_succeeded(runs) else 1


def _cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        from ragdag.settings_doc import settings_table_markdown

        print(settings_table_markdown())
    else:
        from ragdag.settings import get_settings

        print(get_settings().model_dump_json(indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragdag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    extract = sub.add_parser("extract", help="Print the extracted article (JSON) of a saved page or URL.")
    extract.add_argument("path_or_url")
    extract.set_defaults(func=_cmd_extract)

    services = sub.add_parser("services", help="Manage the embedded MongoDB server.")
    services.add_argument("action", choices=["start", "stop", "status"])
    services.set_defaults(func=_cmd_services)

    demo = sub.add_parser("demo", help="Run the whole chain on sample data on the embedded defaults.")
    demo.add_argument("--author", default="Jane Doe")
    demo.set_defaults(func=_cmd_demo)

    settings = sub.add_parser("settings", help="Print the effective settings (or the README table).")
    settings.add_argument("--markdown", action="store_true", help="the settings table with defaults")
    settings.set_defaults(func=_cmd_settings)
    from ragdag.validation.cli_commands import register as register_quarantine

    register_quarantine(sub)
    from ragdag.features.cli_commands import register as register_search

    register_search(sub)  # noqa: E702
    from ragdag.datasets.cli_commands import register as register_datasets

    register_datasets(sub)  # noqa: E702
    from ragdag.training.cli_commands import register as register_models

    register_models(sub)  # noqa: E702
    from ragdag.observability.cli import register as register_observability

    register_observability(sub)  # noqa: E702
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
