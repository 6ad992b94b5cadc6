"""The REST conf and sources file: errors name the field to fix; one target per page."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.crawling.crawl_plan import InvalidCrawlConf, parse_crawl_conf, plan_targets

GOOD = {"author": "Jane Doe", "links": ["https://blog.example.com/p/one"]}
BAD_CONFS = {
    "unknown key": ({**GOOD, "depth": 2}, "depth: Extra inputs are not permitted"),
    "ftp URL": ({**GOOD, "links": ["https://ok.example.com/", "ftp://files.example.com/x"]}, "links.1: "),
    "credentials": ({**GOOD, "links": ["https://jane:secret@blog.example.com/"]}, "links.0: .*credentials"),
    "missing author": ({"links": GOOD["links"]}, "author: Field required"),
    "blank author": ({**GOOD, "author": "   "}, "author: .*must not be blank"),
    "no links": ({**GOOD, "links": []}, "links: List should have at least 1 item"),
    "file URL": ({**GOOD, "links": ["file:///srv/repo"]}, "links.0: .*RAGDAG_ALLOW_PRIVATE_NETWORKS"),
}


@pytest.mark.parametrize(("conf", "message"), BAD_CONFS.values(), ids=BAD_CONFS.keys())
def test_bad_conf_names_the_field(conf: dict, message: str) -> None:
    with pytest.raises(InvalidCrawlConf, match=f"^invalid crawl_sources conf: {message}"):
        parse_crawl_conf(conf)


def test_file_links_only_when_allowed() -> None:
    conf = {**GOOD, "links": ["file:///srv/repo"]}
    assert parse_crawl_conf(conf, allow_file_links=True).links == ["file:///srv/repo"]


def test_conf_targets_one_per_page(tmp_path: Path) -> None:
    conf = {
        "author": "  Jane   Doe ",
        "links": [
            "https://blog.example.com/p/one",
            "https://BLOG.example.com/p/one/?utm_source=x",  # the same page
            "https://github.com/jane/engine",
        ],
    }
    targets = plan_targets(conf, tmp_path / "unused.yaml")
    assert [(t.author_full_name, t.url) for t in targets] == [
        ("Jane Doe", "https://blog.example.com/p/one"),
        ("Jane Doe", "https://github.com/jane/engine"),
    ]


def test_sources_file_is_used_without_conf(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("authors:\n  - full_name: Ada Lovelace\n    links: [https://ada.example.com/notes]\n")
    assert [t.url for t in plan_targets(None, sources)] == ["https://ada.example.com/notes"]
    sources.write_text("authors:\n  - full_name: Ada\n    links: [gopher://old.example.com]\n")
    with pytest.raises(InvalidCrawlConf, match=r"sources file .*authors\.0\.links\.0: "):
        plan_targets(None, sources)
