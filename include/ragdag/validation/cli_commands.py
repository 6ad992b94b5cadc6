"""``ragdag quarantine list`` and ``ragdag quarantine release ID --reason WHY``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ragdag.cli_table import print_table


def _cmd_list(args: argparse.Namespace) -> int:
    from ragdag.models import Category
    from ragdag.settings import get_settings
    from ragdag.validation.quarantine import list_quarantined

    entries = list_quarantined(
        get_settings(),
        category=Category(args.category) if args.category else None,
        include_released=args.all,
    )
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("no quarantined documents")
        return 0
    rows = [("ID", "STATUS", "CATEGORY", "RUN", "FAILED EXPECTATIONS", "URL")] + [
        (e.id, e.status.value, e.category.value, e.run_id, ", ".join(e.failed_expectations), e.url or "")
        for e in entries
    ]
    print_table(rows)
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from ragdag.settings import get_settings
    from ragdag.validation.quarantine import QuarantineError, release_quarantined

    try:
        entry = release_quarantined(get_settings(), args.id, released_by=args.by, reason=args.reason)
    except QuarantineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"released {entry.document_id} ({entry.url}) in {entry.category.value}: accepted from now on")
    return 0


def register(sub: Any) -> None:
    """Add the ``quarantine`` command to the ``ragdag`` parser's subparsers."""
    from ragdag.documents import DOCUMENT_COLLECTIONS

    quarantine = sub.add_parser("quarantine", help="List or release documents that failed validation.")
    actions = quarantine.add_subparsers(dest="quarantine_command", required=True)

    listing = actions.add_parser("list", help="Show quarantined documents and why they failed.")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--category", choices=DOCUMENT_COLLECTIONS)
    listing.add_argument("--all", action="store_true", help="include released and superseded records")
    listing.set_defaults(func=_cmd_list)

    release = actions.add_parser("release", help="Put a quarantined document back as accepted.")
    release.add_argument("id", help="the quarantine id shown by `ragdag quarantine list`")
    release.add_argument("--by", help="who releases it (default: the current user)")
    release.add_argument("--reason", required=True, help="why it is accepted anyway (kept in the audit trail)")
    release.set_defaults(func=_cmd_release)
