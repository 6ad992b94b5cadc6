from __future__ import annotations

import pytest

from ragdag.features.cleaning import (
    CLEANERS,
    CleanedDocument,
    Section,
    clean_article,
    clean_code,
    clean_document,
    clean_post,
    clean_repository,
    is_skipped_file,
)
from ragdag.models import Category


def article(content: str) -> str:
    return clean_article({"category": "articles", "content": content}).text


def test_every_category_has_a_cleaner() -> None:
    assert set(CLEANERS) == set(Category)


def test_clean_document_dispatches_on_category() -> None:
    doc = {"category": "posts", "content": "Launch day 🚀 https://t.co/abc"}
    assert clean_document(doc) == clean_post(doc)
    with pytest.raises(ValueError):
        clean_document({"category": "videos", "content": "x"})


def test_unicode_is_nfkc_normalized() -> None:
    assert article("ﬁnance ＡＢＣ１２３ ½") == "finance ABC123 1⁄2"


def test_whitespace_is_collapsed_and_paragraphs_kept() -> None:
    text = "  One\u00a0 two\t\tthree.  \r\n\r\n\r\n\n\nFour   five.\nsix "
    assert article(text) == "One two three.\n\nFour five.\nsix"


def test_invisible_characters_are_dropped() -> None:
    assert article("zero\u200bwidth soft\u00adhyphen bell\x07 private\ue000 end\ufffd") == (
        "zerowidth softhyphen bell private end"
    )


def test_leftover_markup_is_removed() -> None:
    text = (
        "<p>Hello <b>world</b> &amp; friends</p><!-- tracking -->\n"
        "Read the [docs](https://example.com/docs) ![logo](https://example.com/logo.png)\n"
        "Math stays: a < b and c > d"
    )
    assert article(text) == "Hello world & friends\nRead the docs logo\nMath stays: a < b and c > d"


def test_url_only_and_symbol_only_lines_are_dropped() -> None:
    text = "Intro.\nhttps://example.com/a?b=c\n<https://x.test/y>\n* * *\n---\nBody with https://keep.test/link."
    assert article(text) == "Intro.\n\nBody with https://keep.test/link."


def test_emoji_are_dropped_from_prose_but_scripts_are_kept() -> None:
    assert article("Great 🚀 launch ✨!") == "Great launch !"
    assert article("Привет, мир. 日本語のテキスト。مرحبا") == "Привет, мир. 日本語のテキスト。مرحبا"


def test_posts_also_drop_inline_links() -> None:
    post = clean_post({"content": "New article out, see https://lnkd.in/abc now #rag"}).text
    assert post == "New article out, see now #rag"


def test_code_is_kept_verbatim_but_for_invisible_characters() -> None:
    code = "\n\ndef f(x):   \r\n\tif x:\n        return 1\u200b  # “ﬁ” …\n\n\n\n\nclass A:\n    pass\n"
    expected = "def f(x):   \n\tif x:\n        return 1  # “ﬁ” …\n\n\n\n\nclass A:\n    pass"
    assert clean_code(code) == expected, "no NFKC, spacing and blank lines kept, line ends made \\n"


def test_code_drops_data_lines() -> None:
    blob = "A" * 5000
    assert clean_code(f"x = 1\nDATA = '{blob}'\ny = 2") == "x = 1\ny = 2"


@pytest.mark.parametrize(
    ("path", "skipped"),
    [
        ("src/app.py", False),
        ("README.md", False),
        ("package-lock.json", True),
        ("web/node_modules/react/index.js", True),
        ("static/logo.PNG", True),
        ("dist/app.min.js", True),
    ],
)
def test_machine_made_files_are_skipped(path: str, skipped: bool) -> None:
    assert is_skipped_file(path) is skipped


def test_repository_sections_are_files_headed_by_their_path() -> None:
    cleaned = clean_repository(
        {
            "content": "ignored when there are files",
            "files": [
                {"path": "pkg/core.py", "content": "def run():\n    return 1\n"},
                {"path": "poetry.lock", "content": "[[package]]"},
                {"path": "empty.py", "content": "\n\n"},
            ],
        }
    )
    assert cleaned.sections == (Section("def run():\n    return 1", heading="pkg/core.py"),)
    assert cleaned.text == "pkg/core.py\ndef run():\n    return 1"


def test_repository_without_files_uses_its_content() -> None:
    cleaned = clean_repository({"content": "  indented = True\n"})
    assert cleaned.sections == (Section("  indented = True"),)


def test_empty_documents_are_reported_empty() -> None:
    assert clean_article({"content": "https://only.a/link\n🚀"}).is_empty
    assert CleanedDocument(()).is_empty
