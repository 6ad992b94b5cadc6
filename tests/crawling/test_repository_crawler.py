"""The repository crawler against real git repositories made in tmp_path, cloned over file://."""

from __future__ import annotations

import random
import socket
import subprocess
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ragdag.crawling.fetching.fetcher import TransientFetchError
from ragdag.crawling.service import crawl_host, crawl_targets
from ragdag.crawling.sources import repository_crawler
from ragdag.crawling.sources.crawl_plan import CrawlTarget, group_by_host
from ragdag.crawling.sources.repository_crawler import repository_source
from ragdag.stores.mongo import CRAWL_ERRORS

AUTHOR = "Ada Lovelace"
README = "# Engine\n\nRun it:\n\n```sh\npython -m engine\n```\n"
APP = "def main() -> None:\n    print('analytical engine')\n"


GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin:/usr/local/bin"}
GIT_IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main")


def git(repo: Path, *args: str) -> str:
    command = ["git", *GIT_IDENTITY, *args]
    return subprocess.run(command, cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | bytes], message: str) -> str:
    for path, content in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "analytical-engine"
    path.mkdir()
    git(path, "init", "-q")
    commit(
        path,
        {
            "README.md": README,
            "src/engine/app.py": APP,
            "docs/logo.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)),
            "package-lock.json": '{"lockfileVersion": 3}\n',
            "node_modules/left-pad/index.js": "module.exports = pad;\n",
            "dist/bundle.js": "var a=1;\n",
            "static/app.min.js": "var b=2;\n",
            "data/big.txt": "x" * 20_000 + "\n",
            "notes/latin1.txt": "caf\xe9\n".encode("latin-1"),
        },
        "first",
    )
    (path / "link.txt").symlink_to("/etc/hostname")
    commit(path, {}, "a link out of the repository")
    return path


@pytest.fixture
def repo_settings(settings):
    return settings.model_copy(update={"repo_max_file_bytes": 10_000, "repo_clone_timeout_s": 30.0})


def crawl(settings, url: str, run_id: str = "run-1"):
    [report] = crawl_targets(settings, [CrawlTarget(author_full_name=AUTHOR, url=url)], run_id)
    return report


def test_repository_is_stored_as_one_document_of_its_text_files(repo, repo_settings, mongo_db) -> None:
    report = crawl(repo_settings, repo.as_uri())

    assert report.new == 1
    [doc] = mongo_db.repositories.find()
    assert (doc["url"], doc["title"], doc["platform"]) == (f"file://{repo}", "analytical-engine", "git")
    assert doc["commit"] == git(repo, "rev-parse", "HEAD")
    assert doc["files"] == [
        {"path": "README.md", "content": README},
        {"path": "src/engine/app.py", "content": APP},
    ]
    assert doc["skipped_files"] == {
        "binary or data file": 1,
        "link or submodule": 1,
        "lock file": 1,
        "minified": 1,
        "not UTF-8 text": 1,
        "too large": 1,
        "vendored or generated folder": 2,
    }
    # The README's own ``` block must not close the fence around it.
    assert doc["content"] == (
        f"### README.md\n````\n{README.rstrip()}\n````\n\n### src/engine/app.py\n```\n{APP.rstrip()}\n```"
    )
    assert doc["http"] is None and doc["version"] == 1


def test_recrawl_of_an_unchanged_repository_writes_nothing(repo, repo_settings, mongo_db) -> None:
    crawl(repo_settings, repo.as_uri())
    [before] = mongo_db.repositories.find()

    report = crawl(repo_settings, repo.as_uri(), "run-2")

    assert (report.unchanged, report.new, report.updated) == (1, 0, 0)
    assert list(mongo_db.repositories.find()) == [before]


def test_new_commit_updates_the_document_in_place(repo, repo_settings, mongo_db) -> None:
    crawl(repo_settings, repo.as_uri())
    head = commit(repo, {"src/engine/app.py": APP + "\n\nmain()\n"}, "call main")

    assert crawl(repo_settings, repo.as_uri(), "run-2").updated == 1

    [doc] = mongo_db.repositories.find()
    assert doc["version"] == 2 and doc["commit"] == head
    assert doc["files"][1]["content"].endswith("main()\n")


def test_commit_to_ignored_files_only_moves_the_stored_commit(repo, repo_settings, mongo_db) -> None:
    crawl(repo_settings, repo.as_uri())
    head = commit(repo, {"node_modules/left-pad/index.js": "module.exports = pad2;\n"}, "vendored only")

    assert crawl(repo_settings, repo.as_uri(), "run-2").unchanged == 1

    [doc] = mongo_db.repositories.find()
    # Content, version and crawl time stay; the commit moves so the next run skips the clone.
    assert doc["version"] == 1 and doc["commit"] == head


def test_file_limits_keep_the_first_files_in_path_order(repo, repo_settings, mongo_db) -> None:
    crawl(repo_settings.model_copy(update={"repo_max_files": 1}), repo.as_uri())
    [doc] = mongo_db.repositories.find()
    assert [f["path"] for f in doc["files"]] == ["README.md"]
    # Files skipped by their path keep that reason; the four others that came later are over it.
    assert doc["skipped_files"] == {
        "over the file limit": 4,
        "binary or data file": 1,
        "lock file": 1,
        "minified": 1,
        "vendored or generated folder": 2,
    }


def test_local_repositories_need_private_networks_allowed(repo, repo_settings, mongo_db) -> None:
    report = crawl(repo_settings.model_copy(update={"allow_private_networks": False}), repo.as_uri())
    assert report.failed_sources == 1
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert "RAGDAG_ALLOW_PRIVATE_NETWORKS=true" in error["reason"] and error["run_id"] == "run-1"
    assert mongo_db.repositories.count_documents({}) == 0


LOCAL_FAULTS = {
    "missing path": lambda tmp: tmp / "nowhere",
    "plain file": lambda tmp: _write(tmp / "notes.txt", "not a repository\n"),
    "folder without git": lambda tmp: _mkdir(tmp / "just-a-folder"),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    (path / "README.md").write_text("# not under git\n")
    return path


@pytest.mark.parametrize("fault", LOCAL_FAULTS.values(), ids=LOCAL_FAULTS.keys())
def test_local_git_errors_are_permanent_not_retried(fault, tmp_path, repo_settings, mongo_db) -> None:
    url = fault(tmp_path).as_uri()
    [group] = (g.model_dump() for g in group_by_host([CrawlTarget(author_full_name=AUTHOR, url=url)]))

    # Not the last attempt: a transient error would raise here for Airflow to retry the task.
    report = crawl_host(repo_settings, group, "run-1", last_attempt=False)

    assert (report["failed_sources"], report["new"]) == (1, 0)
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert error["reason"].startswith("git ls-remote failed: fatal: ")
    assert "check the path: it must be a git repository with commits" in error["reason"]


class PeakDisk:
    """The most bytes ever seen under a folder, looked at every millisecond by a thread: it can
    miss a peak (so it never fails a good clone), not invent one."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak, self._stop = folder, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, repository_crawler.disk_bytes(self.folder))
            time.sleep(0.001)

    def __enter__(self) -> PeakDisk:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The crawler's temporary folders go here, away from other tests'."""
    folder = tmp_path / "clones"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _crawl_once(settings, url: str) -> dict:
    [group] = (g.model_dump() for g in group_by_host([CrawlTarget(author_full_name=AUTHOR, url=url)]))
    return crawl_host(settings, group, "run-1", last_attempt=False)  # a transient error would raise


CAP = 1_000_000


def test_a_pack_over_the_disk_limit_is_stopped_by_the_kernel_and_recorded(
    repo, repo_settings, mongo_db, clones
) -> None:
    """Break 5 of issue 25: git wrote the whole pack before a 0.2 s watcher looked. 3 MB that do
    not compress, under the file size limit (so fetched): the kernel stops the write at the cap."""
    commit(repo, {"assets/weights.txt": random.Random(7).randbytes(3_000_000)}, "a large blob")
    capped = repo_settings.model_copy(update={"repo_max_clone_bytes": CAP, "repo_max_file_bytes": 5_000_000})

    with PeakDisk(clones) as disk:
        report = _crawl_once(capped, repo.as_uri())

    assert report["failed_sources"] == 1 and mongo_db.repositories.count_documents({}) == 0
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert "more than 1000000 (RAGDAG_REPO_MAX_CLONE_BYTES)" in error["reason"]
    assert disk.peak <= CAP * 1.1, f"{disk.peak} bytes were on disk"
    assert list(clones.iterdir()) == []  # nothing left behind
    # Under the limit the same repository is crawled (the blob skipped by its size).
    assert crawl(repo_settings, repo.as_uri(), "run-2").new == 1


def test_a_file_over_the_size_limit_is_not_even_downloaded(repo, repo_settings, mongo_db, clones) -> None:
    commit(repo, {"data/dump.txt": random.Random(8).randbytes(3_000_000)}, "a data dump")
    capped = repo_settings.model_copy(update={"repo_max_clone_bytes": CAP})

    with PeakDisk(clones) as disk:
        report = _crawl_once(capped, repo.as_uri())

    assert (report["failed_sources"], report["new"]) == (0, 1)
    stored = mongo_db.repositories.find_one()
    assert stored["skipped_files"]["too large"] == 2  # data/big.txt (20 kB) and the dump
    assert "src/engine/app.py" in {f["path"] for f in stored["files"]}
    assert disk.peak < CAP, f"{disk.peak} bytes were on disk"


def test_a_small_pack_that_inflates_writes_nothing_past_the_limit(repo, repo_settings, mongo_db, clones) -> None:
    """A 100 MB file of zeros packs to about 100 kB: the sizes git reports decide before anything
    is written (here the file is under the file size limit, so only the disk limit stops it)."""
    (repo / "notes").mkdir(exist_ok=True)
    with (repo / "notes" / "zeros.txt").open("wb") as out:
        for _ in range(100):
            out.write(bytes(1_000_000))
    commit(repo, {}, "a file that inflates")
    capped = repo_settings.model_copy(update={"repo_max_clone_bytes": CAP * 5, "repo_max_file_bytes": 200_000_000})

    with PeakDisk(clones) as disk:
        report = _crawl_once(capped, repo.as_uri())

    assert report["failed_sources"] == 1
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert "(RAGDAG_REPO_MAX_CLONE_BYTES); nothing was checked out" in error["reason"]
    assert disk.peak < CAP * 5, f"{disk.peak} bytes were on disk"


def test_a_server_speaking_broken_git_protocol_is_permanent(repo_settings, mongo_db, tmp_path) -> None:
    """Item 8 of issue 25: an HTTP server that answers git's requests with something else."""

    class Broken(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"001e# service=git-upload-pack\nnot a pkt-line at all"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        report = _crawl_once(repo_settings, f"http://127.0.0.1:{httpd.server_address[1]}/engine.git")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert report["failed_sources"] == 1
    [error] = mongo_db[CRAWL_ERRORS].find()
    assert error["reason"].startswith("git ls-remote failed: ")


@pytest.mark.parametrize(
    ("url", "identity", "clone_url", "platform", "name"),
    [
        (
            "https://github.com/decodingml/llm-twin-course",
            "https://github.com/decodingml/llm-twin-course",
            "https://github.com/decodingml/llm-twin-course.git",
            "github",
            "llm-twin-course",
        ),
        (
            "https://www.GitHub.com/owner/repo.git/",
            "https://www.github.com/owner/repo",
            "https://www.github.com/owner/repo.git",
            "github",
            "repo",
        ),
        (
            "https://gitlab.com/group/sub/project",
            "https://gitlab.com/group/sub/project",
            "https://gitlab.com/group/sub/project.git",
            "gitlab",
            "project",
        ),
        (
            "https://git.example.org/tools/thing.git",
            "https://git.example.org/tools/thing.git",
            "https://git.example.org/tools/thing.git",
            "git",
            "thing",
        ),
        ("file:///srv/repos/engine/", "file:///srv/repos/engine", "file:///srv/repos/engine", "git", "engine"),
    ],
)
def test_repository_identity(url: str, identity: str, clone_url: str, platform: str, name: str) -> None:
    source = repository_source(url)
    assert (source.url, source.clone_url, source.platform, source.name) == (identity, clone_url, platform, name)


def test_git_connects_to_the_address_the_guard_checked(repo, repo_settings, tmp_path, monkeypatch) -> None:
    """Over (dumb) HTTP: the host name resolves only for the guard (Python's resolver); git reaches
    the server because it is told the checked address (http.curloptResolve), not by a lookup."""
    bare = tmp_path / "served" / "engine.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], env=GIT_ENV, check=True)
    git(bare, "update-server-info")  # what a dumb HTTP client reads
    hosts: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path / "served"), **kwargs)

        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    real = socket.getaddrinfo

    def guard_resolver(host, port, *args, **kwargs):
        if host == "gitrepo.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guard_resolver)
    source = repository_crawler.repository_source(f"http://gitrepo.test:{httpd.server_address[1]}/engine.git")
    try:
        pinned = repository_crawler._pinned_resolve(source, repository_crawler._check_allowed(source, repo_settings))
        assert pinned == [f"http.curloptResolve=gitrepo.test:{httpd.server_address[1]}:127.0.0.1"]
        head = repository_crawler._remote_head(repo_settings, source, str(tmp_path), pinned)
        with pytest.raises(TransientFetchError, match="(?i)could not resolve host"):  # git's own lookup
            repository_crawler._remote_head(repo_settings, source, str(tmp_path), [])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert head == git(repo, "rev-parse", "HEAD")
    assert hosts and set(hosts) == {f"gitrepo.test:{httpd.server_address[1]}"}
