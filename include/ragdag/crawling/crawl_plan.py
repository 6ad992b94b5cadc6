"""What to crawl: the REST ``conf`` of a run and the configured sources file, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from ragdag.crawling.url_safety import normalize_url

# Validation context key: accept file:// links (local git repositories) in tests and demos only.
ALLOW_FILE_LINKS = "allow_file_links"


def _check_link(url: str, allow_file: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme == "file" and allow_file:
        return url.strip()
    if parts.scheme not in ("http", "https"):
        hint = " (file:// only with RAGDAG_ALLOW_PRIVATE_NETWORKS=true)" if parts.scheme == "file" else ""
        raise ValueError(f"{url!r} is not an http(s) URL{hint}")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise ValueError(f"{url!r} carries credentials; remove the user:password@ part")
    return url.strip()


def _check_link_in_context(url: str, info: ValidationInfo) -> str:
    return _check_link(url, allow_file=bool((info.context or {}).get(ALLOW_FILE_LINKS)))


def _clean_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return " ".join(value.split())


AuthorName = Annotated[str, Field(min_length=1), AfterValidator(_clean_name)]
# Each link validated on its own, so that an error names it: "links.2: 'ftp://…' is not …".
Links = Annotated[list[Annotated[str, AfterValidator(_check_link_in_context)]], Field(min_length=1)]


class AuthorSources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: AuthorName
    links: Links


class CrawlConf(BaseModel):
    """The ``conf`` a REST trigger of ``crawl_sources`` may carry: one author and their links."""

    model_config = ConfigDict(extra="forbid")

    author: AuthorName
    links: Links

    def as_sources(self) -> AuthorSources:
        # Already validated with the same types (and context): no second validation.
        return AuthorSources.model_construct(full_name=self.author, links=self.links)


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authors: list[AuthorSources]


class CrawlTarget(BaseModel):
    """One link of one author: the unit of work of a mapped crawl task."""

    author_full_name: str
    url: str


class InvalidCrawlConf(ValueError):
    """A run's conf or the sources file is wrong; the message names the field to fix."""


def _explain(error: ValidationError, what: str) -> InvalidCrawlConf:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"{field}: {item['msg']}")
    return InvalidCrawlConf(f"invalid {what}: " + "; ".join(lines))


def parse_crawl_conf(conf: dict | None, *, allow_file_links: bool = False) -> CrawlConf | None:
    """Validate a run's conf; an empty conf means 'crawl the configured sources'."""
    if not conf:
        return None
    try:
        return CrawlConf.model_validate(conf, context={ALLOW_FILE_LINKS: allow_file_links})
    except ValidationError as error:
        raise _explain(error, "crawl_sources conf") from None


def load_sources_file(path: Path, *, allow_file_links: bool = False) -> SourcesFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return SourcesFile.model_validate(data, context={ALLOW_FILE_LINKS: allow_file_links})
    except ValidationError as error:
        raise _explain(error, f"sources file {path}") from None


def _identity(link: str) -> str:
    try:
        return normalize_url(link)
    except ValueError:  # a file:// link has no host to normalize
        return link


def plan_targets(
    conf: dict | None, sources_file: Path, *, allow_file_links: bool = False
) -> list[CrawlTarget]:
    """The links to crawl in this run: the conf's when given, else the sources file's.

    Two spellings of one page (a trailing slash, a utm_ parameter) are crawled once: two mapped
    tasks writing one document would race.
    """
    parsed = parse_crawl_conf(conf, allow_file_links=allow_file_links)
    if parsed is not None:
        authors = [parsed.as_sources()]
    else:
        authors = load_sources_file(sources_file, allow_file_links=allow_file_links).authors
    seen: set[str] = set()
    targets = []
    for author in authors:
        for link in author.links:
            if (key := _identity(link)) not in seen:
                seen.add(key)
                targets.append(CrawlTarget(author_full_name=author.full_name, url=link))
    return targets
