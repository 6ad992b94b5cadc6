"""The posts suite judges posts as the posts crawlers store them: short is fine, empty is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ragdag.crawling.document_store import upsert_document
from ragdag.models import Category, document_id
from ragdag.validation.frame import documents_to_frame
from ragdag.validation.gate import GxSession
from ragdag.validation.suites import load_suites

NOW = datetime.now(UTC)


def _post(db, n: int, content: str, platform: str = "mastodon", *, from_account: bool = True) -> str:
    url = f"https://social.example.com/@jane/{n}"
    upsert_document(
        db,
        category=Category.POSTS,
        url=url,
        author_full_name="Jane Doe",
        platform=platform,
        content=content,
        fields={
            "title": None,
            "published_at": NOW - timedelta(days=1),
            "language": "en",
            **(
                {"post": {"source": "mastodon:@jane@social.example.com", "platform_id": str(n)}} if from_account else {}
            ),
        },
        http=None,
        validators=(),
        crawled_at=NOW - timedelta(minutes=1),
    )
    return document_id(url)


def test_posts_suite(settings, mongo_db, tmp_path) -> None:
    short = _post(mongo_db, 1, "Shipped it today!")  # 17 characters: a post, not a stub
    thread = _post(mongo_db, 2, "A thread on chunking.\n\n" + "Cut where the author paused. " * 300)
    emoji = _post(mongo_db, 3, "🎉🎉🎉 🚀🚀 !!! 2026")
    blank = _post(mongo_db, 4, "          \n\n  ")
    page = _post(mongo_db, 5, "A post page crawled as HTML from some site.", platform="example", from_account=False)
    docs = list(mongo_db.posts.find())
    frame = documents_to_frame(docs, now=NOW, validated_owners={})
    suites = load_suites(settings)
    outcome = GxSession(suites, tmp_path / "docs").validate(Category.POSTS, frame, run_name="posts-suite")

    failed = {doc_id: {f.name for f in failures} for doc_id, failures in outcome.failures.items()}
    assert short not in failed and thread not in failed
    assert {"content_has_words", "content_not_boilerplate"} <= failed[emoji]
    assert {"content_has_words", "content_length_in_bounds"} >= failed[blank] >= {"content_has_words"}
    assert {"platform_is_a_posts_source", "post_details_present"} <= failed[page]
    assert suites[Category.POSTS].version >= 2
