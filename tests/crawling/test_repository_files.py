"""Which repository files are kept, and how they are rendered (pure, no git)."""

from __future__ import annotations

import pytest

from ragdag.crawling.sources.repository_files import path_skip_reason, render_files, text_of
from ragdag.models import RepositoryFile


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("src/app.py", None),
        ("README.md", None),
        ("docs/build.md", None),  # a file named like a folder is fine
        ("node_modules/x/index.js", "vendored or generated folder"),
        ("pkg/vendor/lib.go", "vendored or generated folder"),
        ("web/dist/app.js", "vendored or generated folder"),
        (".venv/lib/site.py", "vendored or generated folder"),
        ("src/__pycache__/app.cpython-311.pyc", "vendored or generated folder"),
        ("package-lock.json", "lock file"),
        ("api/poetry.lock", "lock file"),
        ("Brewfile.lock", "lock file"),
        ("static/app.min.js", "minified"),
        ("static/site.min.css", "minified"),
        ("static/app.js.map", "minified"),
    ],
)
def test_path_rules(path: str, reason: str | None) -> None:
    assert path_skip_reason(path) == reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"print('hi')\n", None),
        ("\ufeffcaf\u00e9\n".encode(), None),
        (b"GIF89a\0\0\x01", "binary"),
        ("caf\u00e9".encode("latin-1"), "not UTF-8 text"),
        (b"var a=1;" * 1000, "minified"),
    ],
)
def test_text_sniffing(data: bytes, reason: str | None) -> None:
    text, why = text_of(data)
    assert why == reason
    assert (text is None) == (reason is not None)


def test_render_files_fences_each_file() -> None:
    files = [
        RepositoryFile(path="a.py", content="x = 1\n"),
        RepositoryFile(path="README.md", content="```sh\nrun\n```\n`````\n"),
    ]
    assert render_files(files) == ("### a.py\n```\nx = 1\n```\n\n### README.md\n``````\n```sh\nrun\n```\n`````\n``````")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("static/logo.PNG", "binary or data file"),
        ("notebooks/explore.ipynb", "binary or data file"),
        ("models/adapter.safetensors", "binary or data file"),
        ("LICENSE", "repository metadata or license"),
        (".gitignore", "repository metadata or license"),
        ("docs/LICENSE.md", None),
    ],
)
def test_name_rules(path: str, reason: str | None) -> None:
    assert path_skip_reason(path) == reason


@pytest.mark.parametrize(
    "path",
    [
        "src/app.py",
        "README.md",
        "LICENSE",
        ".gitignore",
        "static/logo.PNG",
        "dist/app.min.js",
        ".venv/lib/site.py",
        "coverage/report.js",
        "target/debug/build.rs",
        "Gemfile.lock",
        "composer.lock",
        "web/app.js.map",
        "static/app.min.mjs",
        "pkg/vendor/x.go",
        "notes/todo.txt",
        "windows\\node_modules\\x.js",
    ],
)
def test_the_feature_stage_skips_exactly_what_the_crawler_skips(path: str) -> None:
    # One owner of the repository file rules: cleaning asks the crawler's module.
    from ragdag.features.cleaning import is_skipped_file

    assert is_skipped_file(path) is (path_skip_reason(path.replace("\\", "/")) is not None)
