"""The validation stage end to end on real stored documents and a real MongoDB server.

Good articles are real pages from the shared corpus, extracted and stored exactly as the crawler
does; the bad ones are the failures the suites exist for. GX runs for real and writes Data Docs.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from ragdag.cli import main
from ragdag.crawling.document_store import WriteOutcome, upsert_document
from ragdag.crawling.extraction import extract_article
from ragdag.documents import QUARANTINE, DocumentStatus, QuarantineStatus, accepted_filter, quarantine_id
from ragdag.models import Category, document_id
from ragdag.observability.audit import AuditAction, list_audit
from ragdag.stores.mongo import RUNS
from ragdag.stores.object_store import open_object_store
from ragdag.validation import (
    ValidationGateFailed,
    list_quarantined,
    release_quarantined,
    validate_pending_documents,
)
from ragdag.validation.frame import find_duplicates, language_code, non_letter_share
from ragdag.validation.gate import ValidationRunError
from ragdag.validation.quarantine import QuarantineError, hold_in_quarantine

# English news and blog pages that extract to a titled article of a few thousand characters.
GOOD_PAGES = ("ars-1", "bbc-1", "cnet", "nytimes-1", "theverge", "gitlab-blog", "dropbox-blog", "medium-3")
AUTHOR = "Ada Lovelace"
# What a market-ticker page leaves once extracted: symbols, digits and separators, few letters.
# Stored as text (not extracted here): a better extractor may rightly drop such lines itself.
BOILERPLATE_TEXT = "\n".join(
    f"© 2024 | {i:02d}/03/2024 · 12:{i:02d} | ★★★★☆ (4.{i}) | ↑ {i * 13}% | » » | #{i}-{i * 7}" for i in range(1, 30)
)
EMPTY_HTML = b"<html><head><title>Nothing here</title></head><body></body></html>"


def _crawl_page(db, url: str, html: bytes, *, crawled_at: datetime, **overrides) -> WriteOutcome:
    """Extract and store one page the way the article crawler does."""
    article = extract_article(html, url=url)
    fields = {"title": article.title, "published_at": article.published_at, "language": article.language}
    fields.update({k: v for k, v in overrides.items() if k in fields})
    return upsert_document(
        db,
        category=Category.ARTICLES,
        url=url,
        author_full_name=AUTHOR,
        platform="example",
        content=article.content,
        fields=fields,
        http={"status": 200, "final_url": url},
        crawled_at=crawled_at,
    )


def _store_page(db, url: str, html: bytes, *, crawled_at: datetime, **overrides) -> str:
    _crawl_page(db, url, html, crawled_at=crawled_at, **overrides)
    return document_id(url)


def _store_ticker(db, *, crawled_at: datetime) -> str:
    url = "https://news.example.com/ticker"
    upsert_document(
        db,
        category=Category.ARTICLES,
        url=url,
        author_full_name=AUTHOR,
        platform="example",
        content=BOILERPLATE_TEXT,
        fields={"title": "Market ticker", "published_at": None, "language": "en"},
        http={"status": 200, "final_url": url},
        crawled_at=crawled_at,
    )
    return document_id(url)


def _store_good_articles(db, pages_dir: Path, count: int = len(GOOD_PAGES)) -> dict[str, str]:
    """page name -> document id, crawled a minute apart in page order."""
    start = datetime.now(UTC) - timedelta(hours=1)
    ids = {}
    for offset, name in enumerate(GOOD_PAGES[:count]):
        ids[name] = _store_page(
            db,
            f"https://news.example.com/{name}",
            (pages_dir / name / "source.html").read_bytes(),
            crawled_at=start + timedelta(minutes=offset),
        )
        stored = db.articles.find_one({"_id": ids[name]})
        assert len(stored["content"]) >= 1000 and stored["title"], f"{name} no longer extracts to an article"
    return ids


def _store_bad_articles(db, pages_dir: Path) -> dict[str, str]:
    now = datetime.now(UTC)
    original = pages_dir / GOOD_PAGES[0] / "source.html"
    return {
        "empty": _store_page(db, "https://news.example.com/empty", EMPTY_HTML, crawled_at=now),
        "boilerplate": _store_ticker(db, crawled_at=now),
        # Same page as GOOD_PAGES[0] under another URL, crawled later: the later copy is the duplicate.
        "duplicate": _store_page(db, "https://mirror.example.org/copy", original.read_bytes(), crawled_at=now),
        # A buggy extractor returning the title as a number.
        "wrong_type": _store_page(
            db,
            "https://news.example.com/typed",
            (pages_dir / "webmd-2" / "source.html").read_bytes(),
            crawled_at=now,
            title=20240101,
        ),
        "future": _store_page(
            db,
            "https://news.example.com/future",
            (pages_dir / "tumblr" / "source.html").read_bytes(),
            crawled_at=now + timedelta(days=1),
        ),
        # A German page; the settings allow English only.
        "foreign": _store_page(
            db,
            "https://news.example.de/heise",
            (pages_dir / "heise" / "source.html").read_bytes(),
            crawled_at=now,
            language="de-DE",
        ),
    }


def _failed(db, doc_id: str) -> set[str]:
    (record,) = db[QUARANTINE].find({"document_id": doc_id})
    return {f["name"] for f in record["failed_expectations"]}


def _visible_text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _read_uri(uri: str) -> str:
    return Path(unquote(urlparse(uri).path)).read_text(encoding="utf-8")


def test_gate_fails_above_threshold_after_quarantining_and_reporting(settings, mongo_db, article_pages_dir) -> None:
    good = _store_good_articles(mongo_db, article_pages_dir)
    bad = _store_bad_articles(mongo_db, article_pages_dir)

    with pytest.raises(ValidationGateFailed) as failure:
        validate_pending_documents(settings, "manual__2026-01-01T00:00:00+00:00")

    report = failure.value.report
    assert (report.validated, report.quarantined, report.skipped) == (len(good), len(bad), 0)
    assert report.failed_share == pytest.approx(len(bad) / (len(good) + len(bad)))
    assert not report.gate_passed
    message = str(failure.value)
    assert "RAGDAG_VALIDATION_MAX_FAILED_SHARE" in message
    assert report.worst_expectations[0] in message
    assert "summary.json" in message and "data-docs/index.html" in message

    # The good ones are validated, with what they were validated against.
    for doc_id in good.values():
        doc = mongo_db.articles.find_one({"_id": doc_id})
        assert doc["validation"]["status"] == "validated"
        assert doc["validation"]["suite"] == "articles" and doc["validation"]["suite_version"] >= 1
        assert doc["validation"]["run_id"] == report.run_id
        assert doc["validation"]["content_hash"] == doc["content_hash"]
        assert isinstance(doc["validation"]["validated_at"], datetime)
    assert mongo_db.articles.count_documents(accepted_filter()) == len(good)

    # The bad ones stay where they are, whole, quarantined at the version that failed, with the reasons.
    for doc_id in bad.values():
        doc = mongo_db.articles.find_one({"_id": doc_id})
        assert doc["validation"]["status"] == DocumentStatus.QUARANTINED
        assert doc["validation"]["content_hash"] == doc["content_hash"]
        assert doc["validation"]["quarantine_id"] == quarantine_id(doc_id, doc["content_hash"])
        assert isinstance(doc["validation"]["quarantined_at"], datetime)
    assert "content_length_in_bounds" in _failed(mongo_db, bad["empty"])
    assert _failed(mongo_db, bad["boilerplate"]) == {"content_not_boilerplate"}
    assert _failed(mongo_db, bad["duplicate"]) == {"content_not_duplicate"}
    assert _failed(mongo_db, bad["wrong_type"]) == {"title_is_text"}
    assert _failed(mongo_db, bad["future"]) == {"crawled_not_in_future"}
    assert _failed(mongo_db, bad["foreign"]) == {"language_allowed"}
    record = mongo_db[QUARANTINE].find_one({"document_id": bad["duplicate"]})
    assert record["url"] == "https://mirror.example.org/copy" and record["category"] == "articles"
    assert mongo_db.articles.find_one({"_id": bad["duplicate"]})["content"]
    assert record["run_id"] == report.run_id and isinstance(record["quarantined_at"], datetime)
    (duplicate_failure,) = record["failed_expectations"]
    assert duplicate_failure["observed"] == good[GOOD_PAGES[0]]  # names the original it copies

    # The run is recorded (through ragdag.observability.run_records).
    (run,) = mongo_db[RUNS].find({"stage": "validate", "run_id": report.run_id})
    assert run["details"]["counts"]["articles"] == {"validated": len(good), "quarantined": len(bad), "skipped": 0}
    assert run["details"]["gate"]["passed"] is False

    # The evidence: GX result JSON and Data Docs naming the suite and a failed expectation.
    gx_result = json.loads(_read_uri(next(u for u in report.report_uris if "/gx-result-" in u)))
    assert gx_result["success"] is False and gx_result["suite_name"] == "articles"
    index_uri = next(u for u in report.report_uris if u.endswith("articles/data-docs/index.html"))
    index = _read_uri(index_uri)
    page_link = re.search(r"validations/articles/[^\"' ]+\.html", index)
    assert page_link, "the Data Docs index links no validation page"
    page = _read_uri(index_uri.rsplit("/", 1)[0] + "/" + unquote(page_link.group(0)))
    text = _visible_text(page)
    assert "Expectation Suite: articles" in text and "Status: Failed" in text
    assert "non_letter_share" in text and "values must be less than or equal to 0.5" in text
    assert bad["boilerplate"] in text  # the failing document, by id
    site_keys = [k for k in open_object_store(settings).list_keys("validation/") if "/data-docs/" in k]
    assert any(k.endswith("static/images/favicon.ico") for k in site_keys)
    assert not any(k.endswith(".gif") for k in site_keys)  # GX's unused tutorial assets stay out

    # Incremental: nothing new is pending, so the next run checks nothing and passes.
    again = validate_pending_documents(settings, "scheduled__2026-01-02T00:00:00+00:00")
    assert (again.validated, again.quarantined, again.failed_share, again.gate_passed) == (0, 0, 0.0, True)

    # A retry of the failed run does not pass on its empty batch.
    with pytest.raises(ValidationGateFailed):
        validate_pending_documents(settings, report.run_id)


def test_gate_passes_below_threshold(settings, mongo_db, article_pages_dir) -> None:
    good = _store_good_articles(mongo_db, article_pages_dir)
    empty = _store_page(mongo_db, "https://news.example.com/empty", EMPTY_HTML, crawled_at=datetime.now(UTC))

    report = validate_pending_documents(settings, "run-below")

    assert report.gate_passed and report.failed_share == pytest.approx(1 / (len(good) + 1))
    assert (report.validated, report.quarantined) == (len(good), 1)
    assert report.per_category["articles"].quarantined == 1
    assert report.worst_expectations[0] == "articles.content_length_in_bounds"
    assert [e.document_id for e in list_quarantined(settings)] == [empty]


def test_release_puts_the_document_back_as_accepted(settings, mongo_db, article_pages_dir) -> None:
    good = _store_good_articles(mongo_db, article_pages_dir, count=5)
    ticker = _store_ticker(mongo_db, crawled_at=datetime.now(UTC))
    validate_pending_documents(settings, "run-release")
    (entry,) = list_quarantined(settings)
    assert entry.document_id == ticker and entry.failed_expectations == ["content_not_boilerplate"]
    stored_hash = mongo_db.articles.find_one({"_id": ticker})["content_hash"]
    assert entry.id == quarantine_id(ticker, stored_hash)  # one per document version, not per run
    with pytest.raises(QuarantineError, match="say why"):
        release_quarantined(settings, entry.id, reason=" ")

    released = release_quarantined(
        settings, entry.id, released_by="reviewer@example.com", reason="a market page we want anyway"
    )

    assert released.status == QuarantineStatus.RELEASED and released.released_by == "reviewer@example.com"
    doc = mongo_db.articles.find_one({"_id": ticker})
    assert doc["validation"]["status"] == DocumentStatus.RELEASED
    assert doc["validation"]["released_by"] == "reviewer@example.com"
    assert doc["validation"]["release_reason"] == "a market page we want anyway"
    assert doc["validation"]["failed_expectations"] == ["content_not_boilerplate"]
    assert isinstance(doc["validation"]["released_at"], datetime)
    assert isinstance(doc["crawled_at"], datetime) and doc["content_hash"]
    record = mongo_db[QUARANTINE].find_one({"_id": entry.id})
    assert isinstance(record["release"]["at"], datetime) and isinstance(record["quarantined_at"], datetime)
    (event,) = list_audit(mongo_db, subject=ticker, action=AuditAction.QUARANTINE_RELEASE)
    assert (event.actor, event.reason) == ("reviewer@example.com", "a market page we want anyway")
    assert event.details["quarantine_id"] == entry.id
    assert mongo_db.articles.count_documents(accepted_filter()) == len(good) + 1
    assert list_quarantined(settings) == []
    assert [e.status for e in list_quarantined(settings, include_released=True)] == ["released"]
    with pytest.raises(QuarantineError, match="already released"):
        release_quarantined(settings, entry.id, reason="again")
    # A released document is not validated again, and it owns its content hash.
    assert validate_pending_documents(settings, "run-after-release").validated == 0


def test_quarantine_cli_lists_and_releases(settings, mongo_db, article_pages_dir, capsys) -> None:
    _store_good_articles(mongo_db, article_pages_dir, count=5)
    empty = _store_page(mongo_db, "https://news.example.com/empty", EMPTY_HTML, crawled_at=datetime.now(UTC))
    validate_pending_documents(settings, "run-cli")
    capsys.readouterr()

    assert main(["quarantine", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["document_id"] == empty and listed["run_id"] == "run-cli"
    assert "content_length_in_bounds" in listed["failed_expectations"]
    assert main(["quarantine", "list"]) == 0
    table = capsys.readouterr().out
    assert listed["id"] in table and "https://news.example.com/empty" in table

    with pytest.raises(SystemExit):  # argparse: --reason is required
        main(["quarantine", "release", listed["id"], "--by", "cli-test"])
    capsys.readouterr()
    assert main(["quarantine", "release", listed["id"], "--by", "cli-test", "--reason", "stub kept on purpose"]) == 0
    validation = mongo_db.articles.find_one({"_id": empty})["validation"]
    assert (validation["released_by"], validation["release_reason"]) == ("cli-test", "stub kept on purpose")
    assert main(["quarantine", "release", "no-such-id", "--reason", "x"]) == 1
    assert "ragdag quarantine list" in capsys.readouterr().err


def test_release_refuses_to_overwrite_a_newer_crawl(settings, mongo_db, article_pages_dir) -> None:
    _store_good_articles(mongo_db, article_pages_dir, count=5)
    _store_page(mongo_db, "https://news.example.com/empty", EMPTY_HTML, crawled_at=datetime.now(UTC))
    validate_pending_documents(settings, "run-conflict")
    (entry,) = list_quarantined(settings)
    # The page is crawled again with real content while its old version sits in quarantine.
    _store_page(
        mongo_db,
        "https://news.example.com/empty",
        (article_pages_dir / "cnet" / "source.html").read_bytes(),
        crawled_at=datetime.now(UTC),
    )

    with pytest.raises(QuarantineError, match="crawled again"):
        release_quarantined(settings, entry.id, reason="looks fine")


def test_an_expectation_gx_cannot_evaluate_stops_the_run_and_names_it(
    settings, mongo_db, article_pages_dir, tmp_path
) -> None:
    suites = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir, suites)
    articles = json.loads((suites / "articles.json").read_text())
    articles["expectations"].append(
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "word_count"},
            "meta": {"name": "word_count_present"},
        }
    )
    (suites / "articles.json").write_text(json.dumps(articles))
    ids = _store_good_articles(mongo_db, article_pages_dir, count=2)

    with pytest.raises(ValidationRunError, match="word_count_present"):
        validate_pending_documents(settings.model_copy(update={"expectations_dir": suites}), "run-broken")

    assert {d["validation"]["status"] for d in mongo_db.articles.find({"_id": {"$in": list(ids.values())}})} == {
        "pending"
    }
    (run,) = mongo_db[RUNS].find({"run_id": "run-broken"})
    assert "word_count_present" in run["error"] and run["status"] == "failed"


def test_a_document_changed_during_validation_stays_pending(mongo_db, article_pages_dir) -> None:
    url = "https://news.example.com/changing"
    doc_id = _store_page(mongo_db, url, EMPTY_HTML, crawled_at=datetime.now(UTC))
    seen = mongo_db.articles.find_one({"_id": doc_id})
    _store_page(mongo_db, url, (article_pages_dir / "cnet" / "source.html").read_bytes(), crawled_at=datetime.now(UTC))

    held = hold_in_quarantine(
        mongo_db,
        category=Category.ARTICLES,
        document=seen,
        failures=[],
        suite="articles",
        suite_version=1,
        run_id="run-race",
        at=datetime.now(UTC),
    )

    assert held is None
    assert mongo_db.articles.find_one({"_id": doc_id})["validation"]["status"] == "pending"
    assert mongo_db[QUARANTINE].count_documents({}) == 0


def test_derived_columns() -> None:
    assert non_letter_share("Hello, world!") == pytest.approx(2 / 12)
    assert non_letter_share("שלום עולם") == 0.0 and non_letter_share("你好世界") == 0.0
    assert non_letter_share("   ") is None and non_letter_share(42) is None
    assert language_code("en-US") == "en" and language_code("pt_BR") == "pt"
    assert language_code(None) is None and language_code(["en"]) is None
    early, late = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    docs = [
        {"_id": "b", "url": "u2", "content_hash": "h", "first_crawled_at": late},
        {"_id": "a", "url": "u1", "content_hash": "h", "first_crawled_at": early},
        {"_id": "c", "url": "u3", "content_hash": "k", "first_crawled_at": early},
    ]
    assert find_duplicates(docs, {}) == {"b": "a"}
    assert find_duplicates(docs, {"k": "validated-k"}) == {"b": "a", "c": "validated-k"}


def _store(db, category: Category, url: str, content: str, platform: str = "github", **fields) -> str:
    upsert_document(
        db,
        category=category,
        url=url,
        author_full_name=AUTHOR,
        platform=platform,
        content=content,
        fields=fields,
        http=None,
        crawled_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    return document_id(url)


def test_posts_and_repositories_have_their_own_suites(settings, mongo_db, article_pages_dir) -> None:
    readme = "# ragdag\n\nA batch RAG data platform: crawl, validate, embed, train.\n"
    code = "def chunk(text: str, size: int) -> list[str]:\n    return [text[i:i + size] for i in range(0, len(text), size)]\n"
    files = [{"path": "README.md", "content": readme}, {"path": "ragdag/chunk.py", "content": code}]
    repo = _store(
        mongo_db, Category.REPOSITORIES, "https://github.com/ragdag/ragdag", readme + code, title="ragdag", files=files
    )
    broken = _store(
        mongo_db,
        Category.REPOSITORIES,
        "https://github.com/ragdag/broken",
        readme + code + "x",
        title="broken",
        files=[{"path": "README.md"}],
    )
    post = _store(
        mongo_db,
        Category.POSTS,
        "https://social.example.com/@ada/1",
        "Shipped the validation stage today: every document is checked before it is embedded.",
        platform="mastodon",
        language="en",
        post={"source": "mastodon:@ada@social.example.com", "platform_id": "1"},
    )
    _store_good_articles(mongo_db, article_pages_dir, count=4)

    report = validate_pending_documents(settings, "run-categories")

    assert report.per_category["repositories"].model_dump() == {"validated": 1, "quarantined": 1, "skipped": 0}
    assert report.per_category["posts"].model_dump() == {"validated": 1, "quarantined": 0, "skipped": 0}
    assert mongo_db.repositories.find_one({"_id": repo})["validation"]["suite"] == "repositories"
    assert mongo_db.posts.find_one({"_id": post})["validation"]["suite"] == "posts"
    assert _failed(mongo_db, broken) == {"files_well_formed"}
    sites = [u for u in report.report_uris if u.endswith("data-docs/index.html")]
    assert sorted(u.split("/")[-3] for u in sites) == ["articles", "posts", "repositories"]


def test_a_changed_document_is_validated_again(settings, mongo_db, article_pages_dir) -> None:
    ids = _store_good_articles(mongo_db, article_pages_dir, count=2)
    assert validate_pending_documents(settings, "run-first").validated == 2
    changed = ids[GOOD_PAGES[0]]
    url = mongo_db.articles.find_one({"_id": changed})["url"]
    _store_page(mongo_db, url, (article_pages_dir / "cnet" / "source.html").read_bytes(), crawled_at=datetime.now(UTC))
    assert mongo_db.articles.find_one({"_id": changed})["validation"]["status"] == "pending"

    report = validate_pending_documents(settings, "run-second")

    assert (report.validated, report.quarantined) == (1, 0)
    assert mongo_db.articles.find_one({"_id": changed})["validation"]["run_id"] == "run-second"


def test_a_quarantined_page_crawled_again_unchanged_stays_quarantined_once(
    settings, mongo_db, article_pages_dir
) -> None:
    """Break 1 of issue 9: the quarantine deleted the page, so every crawl stored it again as new and
    pending, its records multiplied (one per run) and from the second run on it was the whole batch."""
    _store_good_articles(mongo_db, article_pages_dir, count=5)
    url = "https://news.example.com/empty"
    assert _crawl_page(mongo_db, url, EMPTY_HTML, crawled_at=datetime.now(UTC)) == WriteOutcome.NEW
    validate_pending_documents(settings, "run-1")
    (entry,) = list_quarantined(settings)

    for run in ("run-2", "run-3"):
        assert _crawl_page(mongo_db, url, EMPTY_HTML, crawled_at=datetime.now(UTC)) == WriteOutcome.UNCHANGED
        doc = mongo_db.articles.find_one({"_id": entry.document_id})
        assert doc["validation"]["status"] == DocumentStatus.QUARANTINED and doc["version"] == 1
        report = validate_pending_documents(settings, run)
        assert (report.validated, report.quarantined, report.gate_passed) == (0, 0, True)
    assert mongo_db[QUARANTINE].count_documents({}) == 1
    assert [e.id for e in list_quarantined(settings, include_released=True)] == [entry.id]

    # Changed content: back to pending, judged afresh; the held version's record is superseded.
    changed = (article_pages_dir / "gitlab-blog" / "source.html").read_bytes()  # not among the five
    assert _crawl_page(mongo_db, url, changed, crawled_at=datetime.now(UTC)) == WriteOutcome.UPDATED
    assert mongo_db.articles.find_one({"_id": entry.document_id})["validation"] == {"status": "pending"}
    report = validate_pending_documents(settings, "run-4")
    assert (report.validated, report.quarantined) == (1, 0)
    assert list_quarantined(settings) == []
    (record,) = mongo_db[QUARANTINE].find()
    assert record["status"] == QuarantineStatus.SUPERSEDED
    with pytest.raises(QuarantineError, match="already superseded"):
        release_quarantined(settings, entry.id, reason="too late")


def test_a_retried_quarantine_keeps_one_record_with_its_first_run(settings, mongo_db, article_pages_dir) -> None:
    _store_good_articles(mongo_db, article_pages_dir, count=5)
    empty = _store_page(mongo_db, "https://news.example.com/empty", EMPTY_HTML, crawled_at=datetime.now(UTC))
    validate_pending_documents(settings, "run-first")
    # As if a crash had hit between the record and the document's status: pending again, same content.
    doc = mongo_db.articles.find_one({"_id": empty})
    mongo_db.articles.replace_one({"_id": empty}, {**doc, "validation": {"status": "pending"}})

    with pytest.raises(ValidationGateFailed) as failed:  # the one document is the whole batch
        validate_pending_documents(settings, "run-retry")

    assert failed.value.report.quarantined == 1
    (record,) = mongo_db[QUARANTINE].find()
    assert (record["run_id"], record["last_run_id"]) == ("run-first", "run-retry")
    assert mongo_db.articles.find_one({"_id": empty})["validation"]["status"] == DocumentStatus.QUARANTINED


def test_a_bumped_suite_judges_the_validated_documents_again(settings, mongo_db, article_pages_dir, tmp_path) -> None:
    ids = _store_good_articles(mongo_db, article_pages_dir, count=2)
    assert validate_pending_documents(settings, "run-v1").validated == 2
    suites = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir, suites)
    articles = json.loads((suites / "articles.json").read_text())
    articles["meta"]["version"] += 1
    articles["expectations"].append(
        {
            "type": "expect_column_values_to_not_match_regex",
            "kwargs": {"column": "url", "regex": f"/{GOOD_PAGES[0]}$"},
            "meta": {"name": "not_the_first_page"},
        }
    )
    (suites / "articles.json").write_text(json.dumps(articles))
    bumped = settings.model_copy(update={"expectations_dir": suites, "validation_max_failed_share": 0.6})

    report = validate_pending_documents(bumped, "run-v2")

    assert (report.validated, report.quarantined) == (1, 1)
    failing, passing = (mongo_db.articles.find_one({"_id": ids[name]}) for name in GOOD_PAGES[:2])
    assert failing["validation"]["status"] == "quarantined"
    assert failing["validation"]["failed_expectations"] == ["not_the_first_page"]
    assert passing["validation"] | {"run_id": None} == passing["validation"] | {
        "status": "validated",
        "suite_version": articles["meta"]["version"],
        "run_id": None,
    }
    assert mongo_db.articles.count_documents(accepted_filter()) == 1
    # Judged by the current version, nothing is due again; the old suite judges nothing either.
    again = validate_pending_documents(bumped, "run-v2-again")
    assert (again.validated, again.quarantined) == (0, 0)
    assert validate_pending_documents(settings, "run-v1-again").validated == 0
