"""A local sample site for the demo and the tests: the repo's sample pages, plus shared pages.

Serves ``include/sample_site`` at ``/`` and, when the shared corpus is beside the project, a few of
its real-world pages at ``/pages/<name>.html``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ragdag.settings import PROJECT_ROOT

SAMPLE_SITE_DIR = PROJECT_ROOT / "include" / "sample_site"
SHARED_PAGES_DIR = PROJECT_ROOT.parent / "shared" / "corpus" / "article-pages"
# English long-form pages from the shared corpus that make a plausible author's blog.
SHARED_PAGES = ("medium-1", "ars-1", "mozilla-1", "wordpress", "firefox-nightly-blog")


class _Handler(SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/pages/") and clean.endswith(".html"):
            return str(SHARED_PAGES_DIR / Path(clean).stem / "source.html")
        return str(SAMPLE_SITE_DIR / clean.lstrip("/"))

    def log_message(self, format: str, *args: object) -> None:  # keep test and demo output clean
        pass


# A page the validation gate quarantines (a draft published by mistake: too short to be an
# article), so the main job shows the quarantine at work, and a second run shows it held once.
# Kept out of the sample pages above: it is not content anyone should embed.
QUARANTINED_SAMPLE_PAGES = ("drafts/evaluating-retrieval.html",)


def sample_links(base_url: str) -> list[str]:
    links = [f"{base_url}/{p.name}" for p in sorted(SAMPLE_SITE_DIR.glob("*.html"))]
    links += [f"{base_url}/{name}" for name in QUARANTINED_SAMPLE_PAGES]
    if SHARED_PAGES_DIR.is_dir():
        links += [f"{base_url}/pages/{name}.html" for name in SHARED_PAGES if (SHARED_PAGES_DIR / name).is_dir()]
    return links


# A stable port keeps the sample pages' URLs the same from one demo run to the next: under a new
# URL the same content is a duplicate, which the validation gate rightly quarantines.
SAMPLE_SITE_PORT = 18765


@contextmanager
def serve_sample_site(port: int | None = None) -> Iterator[str]:
    """Serve the sample site on 127.0.0.1 (``SAMPLE_SITE_PORT``, or a free port when that one is
    busy); yield its base URL."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", SAMPLE_SITE_PORT if port is None else port), partial(_Handler))
    except OSError:
        if port is not None:
            raise
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SAMPLE_REPOSITORY_FILES = (
    "include/ragdag/datasets/instruct.py",
    "include/ragdag/training/train.py",
    "include/ragdag/features/cleaning.py",
)


def build_sample_repository(root: Path) -> Path:
    """A bare git repository (a few of this project's own files) for the repository crawler, which
    clones it by its ``file://`` URL (git's dumb HTTP cannot serve shallow clones). Reused when it
    exists."""
    import shutil
    import subprocess

    bare = root / "sample-repository.git"
    if (bare / "HEAD").exists():
        return bare
    work = root / "sample-repository"
    work.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_REPOSITORY_FILES:
        shutil.copyfile(PROJECT_ROOT / name, work / Path(name).name)
    (work / "README.md").write_text(
        "# ragdag sample repository\n\nA few modules of the ragdag platform: how instruct samples "
        "are built from chunks, how documents are cleaned, and the training entry point that runs "
        "locally and on SageMaker.\n",
        encoding="utf-8",
    )
    env = {
        "GIT_AUTHOR_NAME": "Jane Doe",
        "GIT_AUTHOR_EMAIL": "jane@example.com",
        "GIT_COMMITTER_NAME": "Jane Doe",
        "GIT_COMMITTER_EMAIL": "jane@example.com",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    steps = [
        (work, ["init", "-q", "-b", "main"]),
        (work, ["add", "."]),
        (work, ["commit", "-q", "-m", "Sample repository"]),
        (root, ["clone", "-q", "--bare", str(work), str(bare)]),
    ]
    for cwd, args in steps:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True)
    shutil.rmtree(work)
    return bare


def sample_sources(base_url: str, data_dir: Path) -> list[str]:
    """The main job's links: the sample site's pages under ``base_url`` and the sample repository's
    ``file://`` URL (built under ``data_dir`` on first use)."""
    return [*sample_links(base_url), build_sample_repository(data_dir / "sample-repositories").as_uri()]
