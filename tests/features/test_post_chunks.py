"""Posts as the posts crawlers store them, cleaned and chunked with the real tokenizer: a post, or
a short thread of the author's own, is one chunk; a long post is cut like prose."""

from __future__ import annotations

import pytest

from ragdag.crawling.sources.posts import Post
from ragdag.documents import PostPart
from ragdag.features.chunking import chunk_texts
from ragdag.features.cleaning import clean_post
from ragdag.models import Category

pytestmark = pytest.mark.slow  # loads the embedding model (once per session)

THREAD = [
    "A thread on chunking, 1/3: cut where the author paused, not every 512 tokens.",
    "2/3: sentences first, then paragraphs, then sections; overlap a sentence so context crosses the cut.",
    "3/3: measure it. A held-out question set tells you whether the new cut retrieves better.",
]


def _chunks(post: Post, tokenizer) -> list[str]:
    return [text for text, _ in chunk_texts(clean_post({"content": post.content()}), Category.POSTS, tokenizer)]


def test_a_post_with_its_content_warning_and_alt_text_is_one_chunk(tokenizer) -> None:
    post = Post(
        platform="mastodon",
        platform_id="1",
        url="https://m.example/@jane/1",
        text="Retrieval quality is mostly chunking quality. Fix the cut before you touch the model.",
        content_warning="RAG opinions",
        media_descriptions=["A chart of recall against chunk size"],
    )
    [chunk] = _chunks(post, tokenizer)
    assert chunk.startswith("Content warning: RAG opinions") and chunk.endswith("recall against chunk size")


def test_a_short_thread_is_one_chunk_in_order(tokenizer) -> None:
    parts = [PostPart(id=f"at://did/app.bsky.feed.post/{n}", text=text) for n, text in enumerate(THREAD)]
    post = Post(
        platform="bluesky", platform_id=parts[0].id, url="https://bsky.app/profile/did/post/0", text="", parts=parts
    )
    [chunk] = _chunks(post, tokenizer)
    assert [chunk.index(text) for text in THREAD] == sorted(chunk.index(text) for text in THREAD)


def test_a_long_post_is_cut_at_sentences(tokenizer) -> None:
    sentences = [f"Lesson {n}: every stage validates what it reads and says why it refused it." for n in range(60)]
    post = Post(
        platform="linkedin", platform_id="x", url="https://www.linkedin.com/feed/update/x", text=" ".join(sentences)
    )
    chunks = _chunks(post, tokenizer)
    assert len(chunks) > 1
    assert all(chunk.rstrip().endswith(".") for chunk in chunks)
