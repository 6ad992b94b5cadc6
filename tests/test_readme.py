"""The README documents what the code does: its settings table and its two commands."""

from __future__ import annotations

import re
from pathlib import Path

from ragdag.settings_doc import BEGIN, END, settings_table_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_matches_the_code() -> None:
    documented = README[README.index(BEGIN) : README.index(END) + len(END)]
    assert documented == settings_table_markdown(), "run `ragdag settings --markdown` and paste it"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    assert "scripts/bootstrap.sh && .venv/bin/python scripts/e2e.py --work-dir data/e2e" in README
    assert "\nscripts/test.sh\n" in README
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == ["exec scripts/test.sh"]


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
