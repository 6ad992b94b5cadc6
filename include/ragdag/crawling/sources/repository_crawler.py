"""Crawl a git repository: shallow clone, keep its text files, store one ``repositories`` document.

``git ls-remote`` first: when the remote HEAD is the commit already stored, nothing is cloned or
written. Git runs with no credentials, no prompts, no user or system config and only the http(s)
transports (plus file:// for local tests and demos), under a time limit and a disk limit, and
connects to the addresses the SSRF guard checked (``http.curloptResolve``), not to a new lookup.

The disk limit (``RAGDAG_REPO_MAX_CLONE_BYTES``) holds whatever the server sends:

- git's own limits first: a shallow clone of one branch with ``--filter=blob:limit=`` the file
  size limit, so files that would be skipped as too large are not even downloaded (where the
  server supports filters), and no checkout by git;
- the kernel's: git and its helpers run with ``RLIMIT_FSIZE`` at the limit, so no single write
  (the pack being received, one inflated file) passes it: the kernel stops git (``SIGXFSZ``);
- a watcher on the folder's size while git receives, for the sum of several files;
- the checkout writes only files the crawler may keep, whose sizes git reports before anything is
  written (a small pack of a huge zero-filled file inflates to nothing on disk).
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ragdag.crawling.document_store import WriteOutcome, stored_fields, upsert_document
from ragdag.crawling.fetching.fetcher import PermanentFetchError, TransientFetchError
from ragdag.crawling.fetching.url_safety import IpAddress, UnsafeUrlError, check_url_is_safe, normalize_url
from ragdag.crawling.sources.repository_files import FileLimits, path_skip_reason, render_files, select_files
from ragdag.models import Category

if TYPE_CHECKING:
    from ragdag.crawling.crawl_context import CrawlContext
    from ragdag.settings import Settings

# Hosts whose repository URLs are spelled without ".git"; the identity drops it, the clone adds it.
PLATFORMS = {"github.com": "github", "gitlab.com": "gitlab"}
# What git prints when the repository cannot be had, however often we try (a 3xx: it moved, and
# redirects are not followed).
_PERMANENT_GIT_ERROR = re.compile(
    r"not found|does not (appear to be|exist)|could not read username|authentication failed"
    r"|terminal prompts disabled|returned error: [34]\d\d|not a git repository|access denied"
    r"|invalid gitfile format|repository .* not found"
    # A server that does not speak git's protocol (a web page, a broken or hostile server) does
    # not learn it by being asked again.
    r"|protocol error|bad pack header|pack signature mismatch|invalid (pkt-line|packet|index-pack)"
    r"|expected (flush|ack/nak|shallow)|did not send all necessary objects|is this a git repository"
    r"|bad band #|unknown object type|pack has bad object|fetch-pack: invalid",
    re.IGNORECASE,
)
FETCHED = "FETCH_HEAD"  # the commit `_clone` fetched
# How often a running git is checked against the disk limit (the kernel stops any one write past it).
_WATCH_INTERVAL_S = 0.05
_NOT_PUBLIC = "check the URL (a moved repository needs its new one); only public repositories are crawled"


@dataclass(frozen=True)
class RepositorySource:
    url: str  # the document's identity
    clone_url: str
    platform: str
    name: str

    @property
    def is_local(self) -> bool:
        return self.clone_url.startswith("file://")


def repository_source(url: str) -> RepositorySource:
    parts = urlsplit(url.strip())
    if parts.scheme == "file":
        path = parts.path.rstrip("/")
        return RepositorySource(f"file://{path}", f"file://{path}", "git", _repo_name(path))
    normalized = normalize_url(url)
    host = urlsplit(normalized).hostname or ""
    platform = PLATFORMS.get(host.removeprefix("www."))
    if platform is None:
        return RepositorySource(normalized, normalized, "git", _repo_name(urlsplit(normalized).path))
    identity = normalized.removesuffix(".git")
    return RepositorySource(identity, f"{identity}.git", platform, _repo_name(identity))


def _repo_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


def _check_allowed(source: RepositorySource, settings: Settings) -> list[IpAddress]:
    """Refuse what must not be cloned; the addresses git may connect to (none for file://)."""
    if source.is_local:
        if not settings.allow_private_networks:
            raise PermanentFetchError(
                source.url,
                "file:// repositories are only crawled with RAGDAG_ALLOW_PRIVATE_NETWORKS=true "
                "(local demos and tests); link a public http(s) repository",
            )
        return []
    try:
        return check_url_is_safe(source.clone_url, settings.allow_private_networks)
    except UnsafeUrlError as exc:
        raise PermanentFetchError(source.url, f"unsafe URL: {exc}") from exc
    except OSError as exc:
        raise TransientFetchError(source.url, f"cannot resolve the host: {exc}") from exc


# Only the http(s) transports (no ext:: or ssh helpers), no credential helper, and no redirects,
# whose target would skip the SSRF check made on the URL.
_GIT_CONFIG = (
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.http.allow=always",
    "credential.helper=",
    "http.followRedirects=false",
    "advice.detachedHead=false",
)


def _pinned_resolve(source: RepositorySource, addresses: list[IpAddress]) -> list[str]:
    """libcurl's ``--resolve`` for the clone URL's host: git connects to the checked addresses."""
    if not addresses:
        return []
    parts = urlsplit(source.clone_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    listed = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in addresses)
    return [f"http.curloptResolve={parts.hostname}:{port}:{listed}"]


def _git_command(settings: Settings, *args: str, pinned: Sequence[str] = ()) -> list[str]:
    config = [
        *_GIT_CONFIG,
        *(["protocol.file.allow=always"] if settings.allow_private_networks else []),
        *pinned,
    ]
    return ["git", *(arg for pair in config for arg in ("-c", pair)), *args]


def _git_env(home: str) -> dict[str, str]:
    # A clean environment: no GIT_* variables, credentials or config of the machine leak in.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LC_ALL": "C",  # English messages, which _PERMANENT_GIT_ERROR reads
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def _largest_file(root: Path) -> int:
    sizes = [0]
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                sizes.append(os.lstat(os.path.join(folder, name)).st_size)
            except OSError:
                continue
    return max(sizes)


def disk_bytes(root: Path) -> int:
    """Bytes of the files under ``root`` (links not followed; files vanishing meanwhile skipped)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # git renames and deletes its temporary files as it goes
    return total


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child, before exec: async-signal-safe, no Python locks taken
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_git(
    settings: Settings,
    source: RepositorySource,
    workdir: str,
    *args: str,
    pinned: Sequence[str] = (),
    watch_disk: bool = False,
    stdin: str | None = None,
) -> str:
    """Run one git command; its failure becomes a permanent or transient fetch error.

    With ``watch_disk``, git may write no file larger than ``repo_max_clone_bytes`` (the
    kernel's ``RLIMIT_FSIZE``: a write past it stops git), and is stopped as soon as ``workdir``
    holds more than that in all (looked at every 50 ms, and once more at the end).
    """
    process = subprocess.Popen(
        _git_command(settings, *args, pinned=pinned),
        cwd=workdir,
        env=_git_env(workdir),
        encoding="utf-8",
        errors="replace",  # a path that is not UTF-8 then reads as no file
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group, so a timeout also stops git's helpers
        # restore_signals (the default) gives git SIGXFSZ's default action back: it stops.
        preexec_fn=_file_size_limit(settings.repo_max_clone_bytes) if watch_disk else None,
    )
    deadline = time.monotonic() + settings.repo_clone_timeout_s
    while True:
        try:
            # Retrying communicate() after its timeout loses no output (subprocess docs).
            out, err = process.communicate(
                stdin, timeout=_WATCH_INTERVAL_S if watch_disk else settings.repo_clone_timeout_s
            )
            break
        except subprocess.TimeoutExpired as exc:
            stdin = None  # handed over: the retried communicate() goes on writing it
            if watch_disk:
                _check_disk(settings, source, workdir, process)
            if time.monotonic() >= deadline:
                _kill(process)
                limit = settings.repo_clone_timeout_s
                raise TransientFetchError(
                    source.url, f"git {args[0]} took more than {limit}s (RAGDAG_REPO_CLONE_TIMEOUT_S)"
                ) from exc
    if watch_disk:  # a clone quicker than one look still counts
        # The kernel stopped git or a helper: it left a file cut at the limit (index-pack's pack).
        if process.returncode != 0 and _largest_file(Path(workdir)) >= settings.repo_max_clone_bytes:
            _too_large(settings, source, settings.repo_max_clone_bytes, "git was stopped by the file size limit")
        _check_disk(settings, source, workdir, None)
    if process.returncode != 0:
        message = " ".join(err.split())[-500:] or f"git {args[0]} exited with {process.returncode}"
        # A local repository does not appear by waiting: every failure of a file:// one is for
        # good, like a remote's "not found"; a network one may pass (a reset, a busy server).
        if source.is_local or _PERMANENT_GIT_ERROR.search(err):
            hint = "check the path: it must be a git repository with commits" if source.is_local else _NOT_PUBLIC
            raise PermanentFetchError(source.url, f"git {args[0]} failed: {message}; {hint}")
        raise TransientFetchError(source.url, f"git {args[0]} failed: {message}")
    return out


def _check_disk(settings: Settings, source: RepositorySource, workdir: str, running: subprocess.Popen | None) -> None:
    used = disk_bytes(Path(workdir))
    if used <= settings.repo_max_clone_bytes:
        return
    if running is not None:
        _kill(running)
    _too_large(settings, source, used, "git was stopped" if running is not None else "the clone is discarded")


def _too_large(settings: Settings, source: RepositorySource, used: int, outcome: str) -> None:
    raise PermanentFetchError(
        source.url,
        f"the clone passed {used} bytes on disk, more than {settings.repo_max_clone_bytes} "
        f"(RAGDAG_REPO_MAX_CLONE_BYTES); {outcome}: link a smaller repository or raise the setting",
    )


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _remote_head(settings: Settings, source: RepositorySource, workdir: str, pinned: list[str]) -> str:
    out = run_git(settings, source, workdir, "ls-remote", "--", source.clone_url, "HEAD", pinned=pinned)
    sha = out.split("\t", 1)[0].strip()
    if not sha:
        raise PermanentFetchError(source.url, "the repository has no commits (no HEAD); link a repository with content")
    return sha


def _clone(settings: Settings, source: RepositorySource, workdir: str, pinned: list[str]) -> Path:
    """Fetch the HEAD commit's objects (``FETCH_HEAD``) into a new repository, without the files
    over the size limit, and check nothing out. ``init`` and ``fetch`` rather than ``clone``: a
    failed clone deletes its folder, and with it the pack the kernel cut at the limit."""
    checkout = Path(workdir) / "checkout"
    run_git(settings, source, workdir, "init", "-q", str(checkout))
    at = str(checkout)
    run_git(settings, source, at, "remote", "add", "origin", source.clone_url)
    for key, value in (("remote.origin.promisor", "true"), ("extensions.partialClone", "origin")):
        run_git(settings, source, at, "config", key, value)
    fetch = ("-c", "fetch.unpackLimit=1", "fetch", "--quiet", "--depth", "1", "--no-tags")  # one pack file
    fetch += (f"--filter=blob:limit={settings.repo_max_file_bytes}",)
    if source.is_local:  # a local upload-pack runs without our -c settings: allow the filter there
        fetch += ("--upload-pack=git -c uploadpack.allowFilter=true upload-pack",)
    run_git(settings, source, at, *fetch, "origin", "HEAD", pinned=pinned, watch_disk=True)
    return checkout


def _checkout_plan(
    settings: Settings, source: RepositorySource, checkout: Path
) -> tuple[list[str], list[str], set[str]]:
    """Every path of HEAD, the paths worth writing (kept by path, not over the size limit) and
    the ones over the size limit. What is to be written is checked against the disk limit before
    anything is: git reports the sizes of the objects it has."""
    at = str(checkout)
    # Objects the filter left on the server are listed "?<id>", and not fetched (`--missing=print`).
    listing = run_git(settings, source, at, "rev-list", "--objects", "--missing=print", FETCHED)
    missing = {line[1:].strip() for line in listing.splitlines() if line.startswith("?")}
    paths, blobs = [], {}  # blobs: path -> object id (links too: `select_files` skips them)
    for line in run_git(settings, source, at, "ls-tree", "-r", "-z", "--full-tree", FETCHED).split("\0"):
        if line:
            meta, path = line.split("\t", 1)
            _, kind, oid = meta.split()
            paths.append(path)
            if kind == "blob" and path_skip_reason(path) is None:
                blobs[path] = oid
    too_large = {path for path, oid in blobs.items() if oid in missing}
    # Sizes of the objects that are here (asking for a missing one would fetch it).
    here = sorted({oid for path, oid in blobs.items() if path not in too_large})
    checked = run_git(
        settings,
        source,
        at,
        "cat-file",
        "--batch-check=%(objectname) %(objectsize)",
        stdin="".join(f"{o}\n" for o in here),
    )
    sizes = {
        oid: int(size) for oid, _, size in (line.partition(" ") for line in checked.splitlines()) if size.isdigit()
    }
    too_large |= {path for path, oid in blobs.items() if sizes.get(oid, 0) > settings.repo_max_file_bytes}
    wanted = sorted(path for path in blobs if path not in too_large)
    total = disk_bytes(checkout) + sum(sizes.get(blobs[path], 0) for path in wanted)
    if total > settings.repo_max_clone_bytes:
        _too_large(settings, source, total, "nothing was checked out")
    return paths, wanted, too_large


def crawl_repository(ctx: CrawlContext, url: str) -> list[WriteOutcome]:
    settings = ctx.settings
    source = repository_source(url)
    pinned = _pinned_resolve(source, _check_allowed(source, settings))
    with tempfile.TemporaryDirectory(prefix="ragdag-repo-") as workdir:
        head = _remote_head(settings, source, workdir, pinned)
        if stored_fields(ctx.db, Category.REPOSITORIES, source.url, "commit").get("commit") == head:
            return [WriteOutcome.UNCHANGED]
        checkout = _clone(settings, source, workdir, pinned)
        commit = run_git(settings, source, str(checkout), "rev-parse", FETCHED).strip()
        paths, wanted, too_large = _checkout_plan(settings, source, checkout)
        if wanted:
            # Literal paths (no glob magic), fed on stdin: no command line too long for a big tree.
            checkout_args = (
                "--literal-pathspecs",
                "checkout",
                FETCHED,
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            )
            run_git(settings, source, str(checkout), *checkout_args, watch_disk=True, stdin="\0".join(wanted))
        limits = FileLimits(settings.repo_max_files, settings.repo_max_file_bytes, settings.repo_max_total_bytes)
        files, skipped = select_files(checkout, paths, limits, too_large)
    return [
        upsert_document(
            ctx.db,
            category=Category.REPOSITORIES,
            url=source.url,
            author_full_name=ctx.author_full_name,
            platform=source.platform,
            content=render_files(files),
            fields={
                "title": source.name,
                "commit": commit,
                "files": [file.model_dump() for file in files],
                "skipped_files": dict(sorted(skipped.items())),
            },
            http=None,
            crawled_at=datetime.now(UTC),
            validators=("commit",),
        )
    ]
