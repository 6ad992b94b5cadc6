"""Crawl a git repository: shallow clone, keep its text files, store one ``repositories`` document.

``git ls-remote`` first: when the remote HEAD is the commit already stored, nothing is cloned or
written. Git runs with no credentials, no prompts, no user or system config and only the http(s)
transports (plus file:// for local tests and demos), under a time limit and a disk limit, and
connects to the addresses the SSRF guard checked (``http.curloptResolve``), not to a new lookup.
"""

from __future__ import annotations

import os
import re
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
from ragdag.crawling.sources.repository_files import FileLimits, render_files, select_files
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
    r"|invalid gitfile format|repository .* not found",
    re.IGNORECASE,
)
# How often a running git is checked against the disk limit.
_WATCH_INTERVAL_S = 0.2
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


def run_git(
    settings: Settings,
    source: RepositorySource,
    workdir: str,
    *args: str,
    pinned: Sequence[str] = (),
    watch_disk: bool = False,
) -> str:
    """Run one git command; its failure becomes a permanent or transient fetch error.

    With ``watch_disk``, git is stopped as soon as ``workdir`` holds more than
    ``repo_max_clone_bytes``: the pack is counted while it is received (every 0.2 s, so a very
    fast clone may pass the limit by what arrives in that time), and once more at the end.
    """
    process = subprocess.Popen(
        _git_command(settings, *args, pinned=pinned),
        cwd=workdir,
        env=_git_env(workdir),
        encoding="utf-8",
        errors="replace",  # a path that is not UTF-8 then reads as no file
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group, so a timeout also stops git's helpers
    )
    deadline = time.monotonic() + settings.repo_clone_timeout_s
    while True:
        try:
            # Retrying communicate() after its timeout loses no output (subprocess docs).
            out, err = process.communicate(timeout=_WATCH_INTERVAL_S if watch_disk else settings.repo_clone_timeout_s)
            break
        except subprocess.TimeoutExpired as exc:
            if watch_disk:
                _check_disk(settings, source, workdir, process)
            if time.monotonic() >= deadline:
                _kill(process)
                limit = settings.repo_clone_timeout_s
                raise TransientFetchError(
                    source.url, f"git {args[0]} took more than {limit}s (RAGDAG_REPO_CLONE_TIMEOUT_S)"
                ) from exc
    if watch_disk:  # a clone quicker than one look still counts
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
    outcome = "git was stopped" if running is not None else "the clone is discarded"
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


def crawl_repository(ctx: CrawlContext, url: str) -> list[WriteOutcome]:
    settings = ctx.settings
    source = repository_source(url)
    pinned = _pinned_resolve(source, _check_allowed(source, settings))
    with tempfile.TemporaryDirectory(prefix="ragdag-repo-") as workdir:
        head = _remote_head(settings, source, workdir, pinned)
        if stored_fields(ctx.db, Category.REPOSITORIES, source.url, "commit").get("commit") == head:
            return [WriteOutcome.UNCHANGED]
        clone = ("clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet")
        run_git(settings, source, workdir, *clone, "--", source.clone_url, "checkout", pinned=pinned, watch_disk=True)
        checkout = Path(workdir) / "checkout"
        commit = run_git(settings, source, str(checkout), "rev-parse", "HEAD").strip()
        paths = run_git(settings, source, str(checkout), "ls-files", "-z").split("\0")
        limits = FileLimits(settings.repo_max_files, settings.repo_max_file_bytes, settings.repo_max_total_bytes)
        files, skipped = select_files(checkout, [p for p in paths if p], limits)
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
