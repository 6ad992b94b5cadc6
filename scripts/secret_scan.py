#!/usr/bin/env python
"""Secret scan of the git-tracked files with detect-secrets, against ``.secrets.baseline``.

    .venv/bin/python scripts/secret_scan.py [REPO_DIR]

Exit 1, listing file, line and type of each potential secret the baseline does not hold; exit 0
otherwise. Unlike ``detect-secrets-hook`` (a pre-commit hook) it never rewrites the baseline, so CI
and a dirty checkout see the same answer. The plugins and filters are the baseline's. To accept a
false positive: ``detect-secrets scan --baseline .secrets.baseline``, then
``detect-secrets audit .secrets.baseline``, and commit the baseline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASELINE = ".secrets.baseline"


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name and (root / name).is_file()]


def new_secrets(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, type) of every potential secret in the tracked files that is not in the baseline."""
    from detect_secrets.core import baseline
    from detect_secrets.core.secrets_collection import SecretsCollection

    os.chdir(root)  # detect-secrets names files relative to the working directory, as the baseline does
    known = baseline.load(baseline.load_from_file(BASELINE), filename=BASELINE)
    found = SecretsCollection()
    for name in tracked_files(root):
        if name != BASELINE:
            found.scan_file(name)
    return sorted((name, secret.line_number, secret.type) for name, secret in found - known)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else Path(__file__).resolve().parents[1]).resolve()
    if not (root / BASELINE).is_file():
        print(f"secret scan: {root / BASELINE} is missing", file=sys.stderr)
        return 1
    leaks = new_secrets(root)
    for name, line, kind in leaks:
        print(f"{name}:{line}: {kind}", file=sys.stderr)
    if leaks:
        print(f"secret scan: {len(leaks)} potential secret(s) not in {BASELINE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
