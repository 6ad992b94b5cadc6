"""The ``ragdag`` command line: one entry point for people, the README's main job and the tests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable


def _cmd_extract(args: argparse.Namespace) -> int:
    from ragdag.crawling.extraction import extract_article

    target: str = args.path_or_url
    if target.startswith(("http://", "https://")):
        from ragdag.crawling.fetching import fetch_page

        page = fetch_page(target)
        article = extract_article(page.content, url=page.final_url)
    else:
        article = extract_article(Path(target).read_bytes(), url=None)
    print(json.dumps(article.model_dump(mode="json"), ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragdag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    extract = sub.add_parser("extract", help="Print the extracted article (JSON) of a saved page or URL.")
    extract.add_argument("path_or_url")
    extract.set_defaults(func=_cmd_extract)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
