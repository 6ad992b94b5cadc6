"""The page's HTML: crawled content is hostile, so it is escaped everywhere and only http(s) URLs
become links."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from ragdag.ui.pages import http_url, render_page

HOSTILE_TITLE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


def _request(root_path: str = "/ragdag") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "root_path": root_path})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("http://example.com", "http://example.com"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example/x", None),
        ("file:///etc/passwd", None),
        ("https://", None),
        (None, None),
    ],
)
def test_only_absolute_http_urls_are_links(url, expected) -> None:
    assert http_url(url) == expected


def test_quarantine_page_escapes_titles_and_never_links_a_javascript_url() -> None:
    entries = [
        {
            "id": "q1",
            "title": HOSTILE_TITLE,
            "url": "javascript:alert(document.cookie)",
            "category": "articles",
            "failed_expectations": ["<b>min_length</b>"],
            "run_id": "run-1",
            "status": "quarantined",
        }
    ]
    html = render_page(_request(), "quarantine", entries=entries, include_released=False).body.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html
    assert "<b>min_length</b>" not in html
    assert 'data-action="quarantine/q1/release"' in html
    assert 'href="/ragdag/datasets"' in html


def test_search_page_shows_hits_with_their_source_as_text_and_safe_links() -> None:
    hits = [
        {
            "score": 0.91,
            "document_id": "d1",
            "chunk_index": 0,
            "text": "Airflow <iframe src=//evil> schedules DAGs",
            "url": "https://blog.example/post",
            "author_full_name": "<i>Jane</i>",
            "category": "articles",
        }
    ]
    html = render_page(_request(), "search", q="<q>", hits=hits, author="", category="").body.decode()
    assert '<a href="https://blog.example/post"' in html
    assert "<iframe" not in html and "&lt;iframe" in html
    assert "<i>Jane</i>" not in html
    assert 'value="&lt;q&gt;"' in html


def test_pages_forbid_foreign_framing_and_inline_scripts() -> None:
    response = render_page(_request(), "overview", overview={"stages": {"crawl_sources": None}})
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
    assert "no run yet" in response.body.decode()


def test_lineage_page_follows_a_model_to_its_documents_urls() -> None:
    from ragdag.observability.lineage import DatasetLineage, DocumentLineage, LineageGraph, ModelLineage

    graph = LineageGraph(
        query="m1",
        kind="model",
        models=[ModelLineage(model_id="m1", dataset_version="v-1", metrics={"nll_per_byte": 1.2})],
        datasets=[
            DatasetLineage(
                version="v-1",
                train_samples=3,
                test_samples=1,
                documents=[
                    DocumentLineage(
                        document_id="d1", url="https://blog.example/a", content_hash="abc", title="<b>T</b>"
                    ),
                    DocumentLineage(document_id="d2", url="javascript:alert(1)", content_hash="def"),
                ],
            )
        ],
    )
    html = render_page(_request(), "lineage", subject="m1", graph=graph).body.decode()
    assert '<a href="https://blog.example/a"' in html
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html
    assert "&lt;b&gt;T&lt;/b&gt;" in html
    assert "Dataset v-1" in html and "Model m1" in html
