"""The CI gates (scripts/gates.sh: ruff lint, ruff format check, detect-secrets), run for real.

Each test runs the gate script on a temporary copy of the repository's tracked files (a git
repository of its own, so "tracked" means the same there). The copy is first brought to the state
the gates require with ``ruff check --fix`` and ``ruff format`` (other work may be mid-edit in this
checkout: the gates judge the copy, the checkout is never touched). The copy as it is passes every
gate, with the committed .secrets.baseline; then one problem is planted per test, and the script
must exit 1 with ``gate failed: <that gate>`` and name the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
RUFF = str(VENV / "bin" / "ruff")
GATES = REPO / "scripts" / "gates.sh"

pytestmark = pytest.mark.slow  # a secret scan of the whole copy takes ~15 s here


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pristine_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of this checkout, as on disk, lint-fixed and formatted, committed in a new repo."""
    copy = tmp_path_factory.mktemp("gates") / "repo"
    for name in git(REPO, "ls-files", "-z").split("\0"):
        source = REPO / name
        if name and source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run([RUFF, "check", "--no-cache", "--fix", "--quiet", "."], cwd=copy, check=False)
    subprocess.run([RUFF, "format", "--no-cache", "--quiet", "."], cwd=copy, check=True)
    git(copy, "init", "-q", "-b", "main")
    git(copy, "add", ".")
    git(copy, "commit", "-q", "-m", "copy")
    return copy


@pytest.fixture
def repo_copy(pristine_copy: Path, tmp_path: Path) -> Path:
    """A fresh copy of :func:`pristine_copy` per test (it plants a problem in it)."""
    copy = tmp_path / "repo"
    shutil.copytree(pristine_copy, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def accepted_baseline(pristine_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The copy's baseline with every finding of the copy as it is accepted: so that a planted key is
    the only new one, whatever other work adds meanwhile (the real baseline is judged on its own by
    test_the_repository_copy_passes_every_gate)."""
    work = tmp_path_factory.mktemp("baseline") / "repo"
    shutil.copytree(pristine_copy, work, symlinks=True)
    subprocess.run(
        [str(VENV / "bin" / "detect-secrets"), "scan", "--baseline", ".secrets.baseline"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return (work / ".secrets.baseline").read_text(encoding="utf-8")


def with_accepted_baseline(copy: Path, baseline: str) -> Path:
    (copy / ".secrets.baseline").write_text(baseline, encoding="utf-8")
    git(copy, "add", ".secrets.baseline")
    return copy


def run_gates(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGDAG_GATES_VENV": str(VENV)}
    return subprocess.run(["bash", str(GATES), str(copy)], env=env, capture_output=True, text=True, timeout=300)


def plant(copy: Path, name: str, text: str) -> None:
    path = copy / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(copy, "add", name)


def test_the_repository_copy_passes_every_gate(pristine_copy: Path) -> None:
    """With the committed baseline: a new false positive elsewhere fails this until it is reviewed
    into .secrets.baseline (README, Tests)."""
    result = run_gates(pristine_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("gate")] == [
        "gate: ruff check",
        "gate: ruff format --check",
        "gate: detect-secrets (tracked files)",
        "gates passed",
    ]


def test_a_planted_lint_error_fails_the_ruff_gate(repo_copy: Path) -> None:
    plant(repo_copy, "include/ragdag/planted.py", '"""Planted."""\n\nimport os\n')  # F401: unused import
    result = run_gates(repo_copy)
    assert result.returncode == 1
    assert "gate failed: ruff lint" in result.stderr
    assert "include/ragdag/planted.py:3:8: F401" in result.stdout
    assert "gate: detect-secrets" not in result.stdout, "fastest first: the scan never ran"


def test_a_planted_format_error_fails_the_format_gate(repo_copy: Path) -> None:
    plant(repo_copy, "include/ragdag/planted.py", '"""Planted."""\n\nVALUE = {  "a":1 }\n')
    result = run_gates(repo_copy)
    assert result.returncode == 1
    assert "gate failed: ruff format" in result.stderr
    assert "include/ragdag/planted.py" in result.stdout


def test_a_planted_fake_key_fails_the_secret_scan(repo_copy: Path, accepted_baseline: str) -> None:
    with_accepted_baseline(repo_copy, accepted_baseline)
    # Built here so that this file itself holds no key-shaped string.
    fake_key_id = "AKIA" + "ZQ3TV7XW2PLM4RJN"
    fake_secret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8sH3LdKvT9"  # pragma: allowlist secret
    plant(
        repo_copy,
        "include/ragdag/planted.py",
        f'"""Planted."""\n\nAWS_ACCESS_KEY_ID = "{fake_key_id}"\naws_secret_access_key = "{fake_secret}"\n',
    )
    result = run_gates(repo_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate failed: secret scan" in result.stderr
    assert "include/ragdag/planted.py:3: AWS Access Key" in result.stderr
    assert "gate: ruff format --check" in result.stdout, "the faster gates ran first and passed"


def test_an_untracked_file_is_not_scanned_but_a_tracked_one_is(repo_copy: Path, accepted_baseline: str) -> None:
    """The scan judges what CI sees: the tracked files (a local .env is never committed)."""
    with_accepted_baseline(repo_copy, accepted_baseline)
    (repo_copy / ".env").write_text("AWS_ACCESS_KEY_ID=" + "AKIA" + "ZQ3TV7XW2PLM4RJN" + "\n")
    assert run_gates(repo_copy).returncode == 0
    git(repo_copy, "add", "-f", ".env")
    result = run_gates(repo_copy)
    assert result.returncode == 1 and ".env:1: AWS Access Key" in result.stderr


def test_the_test_command_runs_the_gates_before_the_tests() -> None:
    script = (REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]
    bootstrap = lines.index("scripts/bootstrap.sh")
    gates = lines.index("scripts/gates.sh")
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert bootstrap < gates < pytest_line
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec scripts/test.sh" in ci, "CI calls exactly the README's test command"
