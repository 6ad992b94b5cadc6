"""What to crawl: the REST ``conf`` of a run and the configured sources file, validated."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


def _check_link(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http(s) URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    if parts.username or parts.password:
        raise ValueError(f"{url!r} carries credentials; remove the user:password@ part")
    return url.strip()


class AuthorSources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=1)
    links: list[str] = Field(min_length=1)

    @field_validator("full_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return " ".join(value.split())

    @field_validator("links")
    @classmethod
    def _links_are_http(cls, links: list[str]) -> list[str]:
        return [_check_link(link) for link in links]


class CrawlConf(BaseModel):
    """The ``conf`` a REST trigger of ``crawl_sources`` may carry: one author and their links."""

    model_config = ConfigDict(extra="forbid")

    author: str = Field(min_length=1)
    links: list[str] = Field(min_length=1)

    def as_sources(self) -> AuthorSources:
        return AuthorSources(full_name=self.author, links=self.links)


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


def parse_crawl_conf(conf: dict | None) -> CrawlConf | None:
    """Validate a run's conf; an empty conf means 'crawl the configured sources'."""
    if not conf:
        return None
    try:
        return CrawlConf.model_validate(conf)
    except ValidationError as error:
        raise _explain(error, "crawl_sources conf") from None


def load_sources_file(path: Path) -> SourcesFile:
    try:
        return SourcesFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except ValidationError as error:
        raise _explain(error, f"sources file {path}") from None


def plan_targets(conf: dict | None, sources_file: Path) -> list[CrawlTarget]:
    """The links to crawl in this run: the conf's when given, else the sources file's."""
    parsed = parse_crawl_conf(conf)
    authors = [parsed.as_sources()] if parsed else load_sources_file(sources_file).authors
    seen: set[str] = set()
    targets = []
    for author in authors:
        for link in author.links:
            if link not in seen:
                seen.add(link)
                targets.append(CrawlTarget(author_full_name=author.full_name, url=link))
    return targets
