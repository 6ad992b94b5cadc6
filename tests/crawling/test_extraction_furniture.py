"""Named furniture, the two extractors' agreement, the captions readability-lxml drops, the
repeated headline: each rule on a page written for it, then through `extract_article`."""

from __future__ import annotations

import lxml.html

from ragdag.crawling.extraction import extract_article
from ragdag.crawling.extraction.agreement import aligned_with_broad
from ragdag.crawling.extraction.html_named_furniture import drop_named_furniture
from ragdag.crawling.extraction.readability_blocks import with_enclosed_blocks
from ragdag.crawling.extraction.title import without_title_lines

PROSE = (
    "The council met on Tuesday to discuss the new cycling lanes along the river, which residents "
    "have asked for since the old bridge closed two years ago and traffic moved into the side streets."
)


def _sentences(topic: str, count: int) -> list[str]:
    return [f"{topic} paragraph {i}: {PROSE}" for i in range(count)]


def _pruned_text(html: str) -> str:
    page = lxml.html.document_fromstring(html)
    drop_named_furniture(page)
    return " ".join(page.text_content().split())


def test_utility_classes_hide_unless_a_breakpoint_shows_them_again() -> None:
    page = (
        "<html><body><article><p>Article text.</p>"
        '<div class="hidden">Subscribe to our newsletter</div>'
        '<div class="modal d-none">Sign in to continue</div>'
        '<nav class="hidden md:block">Desktop menu</nav>'
        '<span class="sr-only">Skip to the table</span>'
        "</article></body></html>"
    )
    text = _pruned_text(page)
    assert "Article text." in text
    assert "Subscribe" not in text and "Sign in" not in text
    assert "Desktop menu" in text  # shown from the md breakpoint on
    assert "Skip to the table" in text  # read out by screen readers


def test_author_boxes_post_metadata_related_boxes_and_foreign_comment_sections_go() -> None:
    body = "".join(f"<p>{p}</p>" for p in _sentences("Story", 6))
    page = (
        f"<html><body><article>{body}"
        '<div class="author-box">Jane Doe writes about cities. Follow her on Twitter.</div>'
        '<p class="postmetadata alt">Posted on Monday in News | 3 comments</p>'
        '<div class="related-posts"><h3>More stories</h3><p>Another headline here</p></div>'
        '<section id="kommentare">Keine Kommentare bisher</section>'
        "</article></body></html>"
    )
    text = _pruned_text(page)
    assert "Story paragraph 5" in text
    for furniture in ("Jane Doe", "Posted on Monday", "Another headline", "Keine Kommentare"):
        assert furniture not in text, furniture


def test_a_furniture_name_on_the_element_holding_the_article_does_not_remove_it() -> None:
    body = "".join(f"<p>{p}</p>" for p in _sentences("Story", 6))
    page = f'<html><body><div class="related-content">{body}</div><p>Footer</p></body></html>'
    assert "Story paragraph 3" in _pruned_text(page)


def test_picture_credits_go_and_caption_credits_are_cut_off() -> None:
    page = (
        "<html><body><article><p>Article text.</p>"
        '<figure><img src="a.jpg"><figcaption>The new bridge at dusk. '
        '<span class="credit">Photo by Ann Lee/Example</span></figcaption></figure>'
        '<figure><img src="b.jpg"><figcaption>Cyclists on the river path (Foto: R. Hollinger)</figcaption></figure>'
        '<p class="credit">Credit where it is due: the volunteers.</p>'
        "</article></body></html>"
    )
    text = _pruned_text(page)
    assert "The new bridge at dusk." in text and "Ann Lee" not in text
    assert "Cyclists on the river path" in text and "Hollinger" not in text
    assert "Credit where it is due" in text  # not in a picture: prose


def test_readability_text_ends_with_the_last_paragraph_both_found_and_opens_with_the_standfirst() -> None:
    article = _sentences("Body", 4)
    standfirst = "A long-awaited plan for safer cycling along the river finally reaches the council this week."
    precise = "\n\n".join([*article, "Jane Doe is a reporter who covers transport and city planning for us."])
    broad = "\n\n".join(["Cycling lanes: the plan", standfirst, *article, "Share this article"])
    aligned = aligned_with_broad(precise, broad, titles=["Cycling lanes: the plan"])
    assert aligned.split("\n\n") == [standfirst, *article]
    # Two texts with no paragraph in common are left alone.
    assert aligned_with_broad(precise, "Something else entirely.") == precise


def test_a_long_unshared_tail_is_more_of_the_article_and_stays() -> None:
    article = _sentences("Body", 6)
    # trafilatura stopped after the second paragraph (an ad block, a widget): the rest is article.
    broad = "\n\n".join(article[:2])
    assert aligned_with_broad("\n\n".join(article), broad).split("\n\n") == article


def test_captions_and_lists_of_readabilitys_own_block_come_back_in_place() -> None:
    first, second, third = _sentences("Body", 3)
    page = lxml.html.document_fromstring(
        "<html><body><div class='story'>"
        f"<p>{first}</p>"
        "<figure><img src='a.jpg'></figure><figcaption>The bridge before it closed.</figcaption>"
        f"<p>{second}</p>"
        "<div><ul><li>Two new lanes</li><li>A crossing at the market</li></ul></div>"
        "<div><ul><li><a href='/a'>Home</a></li><li><a href='/b'>News</a></li></ul></div>"
        f"<p>{third}</p>"
        "</div><ul><li>Outside the article</li></ul></body></html>"
    )
    restored = with_enclosed_blocks("\n\n".join([first, second, third]), page).split("\n\n")
    assert restored == [
        first,
        "The bridge before it closed.",
        second,
        "Two new lanes",
        "A crossing at the market",
        third,
    ]


def test_the_headline_repeated_at_the_top_goes_but_the_title_words_later_stay() -> None:
    titles = ["Council approves river cycling lanes", "Council approves river cycling lanes | City News"]
    body = _sentences("Body", 3)
    text = "\n\n".join(["Council approves river cycling lanes", *body, "Council approves river cycling lanes"])
    # Further down than the opening lines, the title's words are the article's own.
    assert without_title_lines(text, titles).split("\n\n") == [*body, "Council approves river cycling lanes"]
    assert without_title_lines(text, []) == text


def test_an_article_page_comes_out_without_its_headline_bio_and_metadata() -> None:
    paragraphs = _sentences("Body", 5)
    page = (
        "<html><head><title>Council approves river cycling lanes | City News</title></head><body>"
        "<article><h1>Council approves river cycling lanes</h1>"
        + "".join(f"<p>{p}</p>" for p in paragraphs)
        + '<div class="about-author"><p>Jane Doe has covered the city hall for ten years and '
        "lives with her two cats by the river.</p></div>"
        '<div class="entry-meta">Posted in Transport | Tagged cycling, river</div>'
        "</article></body></html>"
    )
    article = extract_article(page)
    assert article.title == "Council approves river cycling lanes"
    assert article.content.split("\n\n") == paragraphs


def test_texts_too_large_to_align_cheaply_are_left_as_readability_found_them() -> None:
    article = [f"Paragraph {i}: {PROSE}" for i in range(6000)]
    bio = "Jane Doe writes about cities."
    precise = "\n\n".join([*article, bio])
    # Small enough, the bio after the last shared paragraph goes; this size is left alone.
    assert aligned_with_broad("\n\n".join([*article[:5], bio]), "\n\n".join(article[:5])).endswith(article[4])
    assert aligned_with_broad(precise, "\n\n".join(article)) == precise
