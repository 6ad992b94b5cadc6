#!/usr/bin/env python3
"""Write a .env for docker-compose.yaml / `astro dev start`: .env.example with every placeholder replaced.

    python3 scripts/new-env.py            # writes .env (refuses to overwrite one)
    python3 scripts/new-env.py -o PATH    # or PATH ("-" for stdout)

Each distinct ``change-me-...`` placeholder becomes one generated value wherever it appears, so the
credentials repeated in the ``AIRFLOW_CONN_*`` lines stay equal to the service variables;
``change-me-fernet-key`` becomes a Fernet key (32 url-safe base64 bytes). Values are url-safe
(no quotes or backslashes: they go into JSON connection strings). Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"change-me[A-Za-z0-9-]*")
FERNET_PLACEHOLDER = "change-me-fernet-key"


def generated_value(placeholder: str) -> str:
    if placeholder == FERNET_PLACEHOLDER:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(24)


def new_env(example: str) -> str:
    values: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        return values.setdefault(match[0], generated_value(match[0]))

    lines = []
    for line in example.splitlines():
        # Comments keep their text: only KEY=VALUE lines get values.
        lines.append(line if line.lstrip().startswith("#") else PLACEHOLDER.sub(replace, line))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default=str(REPO / ".env"), help='where to write ("-": stdout)')
    parser.add_argument("--example", default=str(REPO / ".env.example"))
    args = parser.parse_args(argv)
    text = new_env(Path(args.example).read_text(encoding="utf-8"))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    output = Path(args.output)
    if output.exists():
        print(f"{output} exists: not overwritten (move it away first)", file=sys.stderr)
        return 1
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {output} (mode 600); the Airflow login is AIRFLOW_ADMIN_USERNAME / AIRFLOW_ADMIN_PASSWORD in it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
