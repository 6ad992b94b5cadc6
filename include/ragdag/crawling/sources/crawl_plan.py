"""What to crawl: the REST ``conf`` of a run and the configured sources file, validated and
capped in size, and the links grouped by host into the units of work of the mapped crawl tasks.

An author's sources are ``links`` (pages, feeds, repositories) and ``posts`` (accounts and export
archives, :mod:`ragdag.crawling.sources.post_sources`); either may be left out, not both."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from ragdag.crawling.fetching.url_safety import host_key, loggable_url, normalize_url
from ragdag.crawling.sources.post_sources import PostSource, source_host, source_key
from ragdag.errors import PermanentError
from ragdag.text_safety import check_person_name

if TYPE_CHECKING:
    from ragdag.settings import Settings

# Validation context keys: accept file:// links (local git repositories) in tests and demos only;
# the size caps (a ConfLimits).
ALLOW_FILE_LINKS = "allow_file_links"
LIMITS = "limits"
# An error message lists this many problems at most: a conf of 500 bad links fails readably.
_MAX_ERRORS_SHOWN = 10
# The group of file:// links (local git repositories), which have no host.
LOCAL_FILES_HOST = "(local files)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfLimits:
    """Size caps of what a run may be asked to crawl (a REST conf is untrusted input)."""

    max_links: int = 500
    max_url_chars: int = 2048
    max_author_chars: int = 200

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfLimits:
        return cls(settings.crawl_max_links, settings.crawl_max_url_chars, settings.crawl_max_author_chars)


def _limits(info: ValidationInfo) -> ConfLimits:
    return (info.context or {}).get(LIMITS) or ConfLimits()


def _cap_links(value: Any, info: ValidationInfo) -> Any:
    # Before the items are validated: 10,000 links fail at once, not after 10,000 checks.
    cap = _limits(info).max_links
    if isinstance(value, list | tuple) and len(value) > cap:
        raise ValueError(f"{len(value)} links, more than {cap} (RAGDAG_CRAWL_MAX_LINKS); split them over several runs")
    return value


def _cap_posts(value: Any, info: ValidationInfo) -> Any:
    cap = _limits(info).max_links
    if isinstance(value, list | tuple) and len(value) > cap:
        raise ValueError(
            f"{len(value)} posts sources, more than {cap} (RAGDAG_CRAWL_MAX_LINKS); split them over several runs"
        )
    return value


def _cap_url(value: Any, info: ValidationInfo) -> Any:
    cap = _limits(info).max_url_chars
    if isinstance(value, str) and len(value.strip()) > cap:
        raise ValueError(
            f"a link of {len(value.strip())} characters, more than {cap} (RAGDAG_CRAWL_MAX_URL_CHARS); "
            "link the page by a shorter URL"
        )
    return value


def _cap_author(value: Any, info: ValidationInfo) -> Any:
    cap = _limits(info).max_author_chars
    if isinstance(value, str) and len(value.strip()) > cap:
        raise ValueError(
            f"{len(value.strip())} characters, more than {cap} (RAGDAG_CRAWL_MAX_AUTHOR_CHARS); "
            "give the author's name only"
        )
    return value


def _check_link(url: str, allow_file: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme == "file" and allow_file:
        return url.strip()
    if parts.scheme not in ("http", "https"):
        hint = " (file:// only with RAGDAG_ALLOW_PRIVATE_NETWORKS=true)" if parts.scheme == "file" else ""
        raise ValueError(f"{url!r} is not an http(s) URL{hint}")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    try:
        normalize_url(url)  # e.g. a port out of range
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parts.username is not None or parts.password is not None:  # "https://@host" too
        raise ValueError(f"{url!r} carries credentials; remove the user:password@ part")
    return url.strip()


def _check_link_in_context(url: str, info: ValidationInfo) -> str:
    return _check_link(url, allow_file=bool((info.context or {}).get(ALLOW_FILE_LINKS)))


def _clean_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    # The name is written into instructions and prompts: a name, not markup or orders to a model.
    return check_person_name(value)


AuthorName = Annotated[str, Field(min_length=1), BeforeValidator(_cap_author), AfterValidator(_clean_name)]
# Each link validated on its own, so that an error names it: "links.2: 'ftp://…' is not …".
Link = Annotated[str, BeforeValidator(_cap_url), AfterValidator(_check_link_in_context)]
Links = Annotated[list[Link], BeforeValidator(_cap_links)]
PostSources = Annotated[list[PostSource], BeforeValidator(_cap_posts)]


class _HasSources(BaseModel):
    @model_validator(mode="after")
    def _some_source(self) -> _HasSources:
        if not self.links and not self.posts:  # type: ignore[attr-defined]
            raise ValueError("no sources: give links or posts (at least one of them)")
        return self


class AuthorSources(_HasSources):
    model_config = ConfigDict(extra="forbid")

    full_name: AuthorName
    links: Links = []
    posts: PostSources = []


class CrawlConf(_HasSources):
    """The ``conf`` a REST trigger of ``crawl_sources`` may carry: one author, their links and
    their posts sources."""

    model_config = ConfigDict(extra="forbid")

    author: AuthorName
    links: Links = []
    posts: PostSources = []

    def as_sources(self) -> AuthorSources:
        # Already validated with the same types (and context): no second validation.
        return AuthorSources.model_construct(full_name=self.author, links=self.links, posts=self.posts)


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authors: list[AuthorSources]


class CrawlTarget(BaseModel):
    """One link, or one posts source, of one author. A posts source's ``url`` is its label
    (``mastodon:@user@host``), which names it in ``crawl_errors``."""

    author_full_name: str
    url: str
    posts: PostSource | None = None


class HostGroup(BaseModel):
    """The links on one host: the unit of work of one mapped crawl task, which fetches them one
    after the other, so the per-host delay and robots.txt (fetched once) hold across the run."""

    host: str
    targets: list[CrawlTarget]


class InvalidCrawlConf(PermanentError, ValueError):
    """A run's conf or the sources file is wrong; the message names the field to fix."""


def _explain(error: ValidationError, what: str) -> InvalidCrawlConf:
    lines = []
    errors = error.errors(include_input=False, include_url=False)
    for item in errors[:_MAX_ERRORS_SHOWN]:
        # A key of the conf is user input too: keep a huge one from flooding the message.
        field = ".".join(str(part)[:80] for part in item["loc"]) or "(root)"
        # pydantic words the "Value error, " prefix of our own messages; keep it short.
        lines.append(f"{field}: {item['msg'][:400]}")
    if len(errors) > _MAX_ERRORS_SHOWN:
        lines.append(f"and {len(errors) - _MAX_ERRORS_SHOWN} more")
    return InvalidCrawlConf(f"invalid {what}: " + "; ".join(lines))


def _context(allow_file_links: bool, limits: ConfLimits | None) -> dict[str, Any]:
    return {ALLOW_FILE_LINKS: allow_file_links, LIMITS: limits or ConfLimits()}


def parse_crawl_conf(
    conf: dict | None, *, allow_file_links: bool = False, limits: ConfLimits | None = None
) -> CrawlConf | None:
    """Validate a run's conf; an empty conf means 'crawl the configured sources'."""
    if not conf:
        return None
    try:
        return CrawlConf.model_validate(conf, context=_context(allow_file_links, limits))
    except ValidationError as error:
        raise _explain(error, "crawl_sources conf") from None


def load_sources_file(path: Path, *, allow_file_links: bool = False, limits: ConfLimits | None = None) -> SourcesFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return SourcesFile.model_validate(data, context=_context(allow_file_links, limits))
    except ValidationError as error:
        raise _explain(error, f"sources file {path}") from None


def _identity(link: str) -> str:
    try:
        return normalize_url(link)
    except ValueError:  # a file:// link has no host to normalize
        return link


def plan_targets(
    conf: dict | None,
    sources_file: Path,
    *,
    allow_file_links: bool = False,
    limits: ConfLimits | None = None,
) -> list[CrawlTarget]:
    """The links to crawl in this run: the conf's when given, else the sources file's.

    Two spellings of one page (a trailing slash, a utm_ parameter) are crawled once: two writers
    of one document would race.
    """
    limits = limits or ConfLimits()
    parsed = parse_crawl_conf(conf, allow_file_links=allow_file_links, limits=limits)
    if parsed is not None:
        authors = [parsed.as_sources()]
    else:
        authors = load_sources_file(sources_file, allow_file_links=allow_file_links, limits=limits).authors
    seen: set[str] = set()
    targets = []
    for author in authors:
        for link in author.links:
            if (key := _identity(link)) not in seen:
                seen.add(key)
                targets.append(CrawlTarget(author_full_name=author.full_name, url=link))
            else:
                log.info("duplicate skipped: %s is a link listed before (same page)", loggable_url(link))
        for source in author.posts:
            label = source_key(source)
            if (key := label.lower()) not in seen:  # account names are not case-sensitive
                seen.add(key)
                targets.append(CrawlTarget(author_full_name=author.full_name, url=label, posts=source))
            else:
                log.info("duplicate skipped: posts source %s is listed before", label)
    if len(targets) > limits.max_links:  # only the sources file can get here: several authors
        raise InvalidCrawlConf(
            f"invalid sources file {sources_file}: {len(targets)} links in all, more than "
            f"{limits.max_links} (RAGDAG_CRAWL_MAX_LINKS); raise the setting or crawl fewer links"
        )
    return targets


def target_host(target: CrawlTarget) -> str:
    """The host a target's requests go to first (file:// links share one group of their own, and
    so do the posts archives)."""
    if target.posts is not None:
        return source_host(target.posts)
    if urlsplit(target.url.strip()).scheme.lower() == "file":
        return LOCAL_FILES_HOST
    return host_key(target.url)


def group_by_host(targets: Iterable[CrawlTarget]) -> list[HostGroup]:
    """One group per host, in the order each host first appears, links in plan order.

    Politeness across mapped tasks rests on this: only one task ever talks to a host it was
    given. (A feed's links on other hosts and redirects to another host are spaced within their
    task only; see docs/operations.md.)
    """
    groups: dict[str, list[CrawlTarget]] = {}
    for target in targets:
        groups.setdefault(target_host(target), []).append(target)
    return [HostGroup(host=host, targets=members) for host, members in groups.items()]
